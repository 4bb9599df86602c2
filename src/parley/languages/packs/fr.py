"""French (the caller addressed as *vous*; lines need no grammatical gender)."""

from __future__ import annotations

from parley.languages.packs.base import LanguagePack, Lines, digits, phrases, words

_UNITS = words("zéro un deux trois quatre cinq six sept huit neuf")
_TEENS = words("dix onze douze treize quatorze quinze seize dix-sept dix-huit dix-neuf")
_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}
_REGIONAL_TENS = {7: "septante", 8: "huitante", 9: "nonante"}  # Belgium, Switzerland


def _tens(tens: str, unit: int) -> list[str]:
    if unit == 0:
        return [tens]
    if unit == 1:  # "vingt et un", or "vingt-et-un" (1990 spelling)
        return [f"{tens} et un", f"{tens}-et-un"]
    return [f"{tens}-{_UNITS[unit]}"]


def _said(n: int) -> list[str]:
    """The ways ``n`` (10 to 99) is written out."""
    tens, unit = divmod(n, 10)
    if tens == 1:
        return [_TEENS[unit]]
    said = _tens(_TENS[tens], unit) if tens in _TENS else []
    if tens == 7:  # soixante-dix, soixante et onze, soixante-douze...
        said += ["soixante et onze", "soixante-et-onze"] if unit == 1 else []
        said += [] if unit == 1 else [f"soixante-{_TEENS[unit]}"]
    if tens == 8:
        said += ["quatre-vingts", "quatre-vingt"] if unit == 0 else []
        said += [f"quatre-vingt-{_UNITS[unit]}"] if unit else []
    if tens == 9:
        said.append(f"quatre-vingt-{_TEENS[unit]}")
    if tens in _REGIONAL_TENS:
        said += _tens(_REGIONAL_TENS[tens], unit)
    return said


PAIRS = {word: str(n) for n in range(10, 100) for word in _said(n)}
"""10 to 99 written out: French phone numbers are said in pairs ("zéro six, douze...")."""

FRENCH = LanguagePack(
    code="fr",
    lines=Lines(
        idle_prompt="Vous êtes toujours là ?",
        idle_goodbye="On dirait que vous n'êtes plus là. Au revoir, à bientôt !",
        max_turns_goodbye="Nous arrivons au terme de cette conversation. Au revoir !",
        policy_fallback=(
            "Je regrette, je ne peux pas vous aider sur ce point. "
            "Puis-je faire autre chose pour vous ?"
        ),
        loop_say=(
            "Pardon, nous tournons un peu en rond. Essayons autrement : pouvez-vous me dire "
            "en quelques mots ce dont vous avez besoin ?"
        ),
        loop_end=(
            "Je regrette, je ne parviens pas à vous aider pour le moment. "
            "Merci de votre appel, au revoir."
        ),
        end_call="Merci de votre appel. Au revoir !",
        transfer="Je vous transfère tout de suite.",
        wait_fillers=("Un instant, s'il vous plaît.", "Je vérifie."),
        tool_filler="Un instant, je vérifie.",
        search_filler="Je regarde ça.",
    ),
    fillers=("euh+", "heu+", "hum+", "hm+", "mm+", "ben", "bah"),
    # left out: "si" ("Mais si !"), "donc" ("Dis donc !"), "un"/"une" ("J'en veux un."),
    # "son" (a sound), "est" ("Je sais ce que c'est."); "le"/"la"/"les" after a hyphen
    # ("Dites-le.") never match, since words are matched whole
    trailing_words=words(
        "et mais ou car que parce lorsque comme quand puis "
        "avec pour de du des à au aux dans sur chez par "
        "le la les mon ma mes ton ta tes sa ses notre votre nos vos leur leurs"
    ),
    digit_words=digits(" ".join(_UNITS), **PAIRS),
    backchannels=phrases(
        "oui|ouais|d'accord|ok|okay|mh|mhm|mm|hm|ah|oh|ah bon|ah oui|je vois|bien sûr|voilà"
        "|exactement|c'est ça|tout à fait|entendu|très bien|bien|oui oui|parfait|effectivement"
    ),
    non_speech=("amara.org", "sous-titrage société radio-canada"),
    email_dot=("point",),
    email_at=("arobase", "arrobase"),
    email_underscore=("tiret du bas", "tiret bas", "underscore"),
    email_context=("mail", "courriel"),
    abbreviations=phrases(
        "mme|mmes|mlle|mm|dr|pr|me|etc|ex|cf|env|av|bd|tél|st|ste|vol|chap|réf|n°|p.ex"
    ),
    loop_fillers=(
        "euh heu hum hm mm mhm ah oh bah ben bon ok okay d'accord voilà alors bref enfin "
        "oui non ouais merci bonjour salut allô"
    ),
    loop_function_words=(
        "je j' me m' moi mon ma mes tu te toi ton ta tes il elle on nous vous ils elles le "
        "la les l' un une des du de d' au aux à en dans sur sous avec pour par sans chez et "
        "ou mais donc car que qu' qui quoi quel quelle ce c' cet cette ces ça cela ceci y "
        "c'est est suis es sont était être ai as a avons avez ont avoir fais fait faire "
        "peux peut pouvoir veux veut vouloir vais va aller sais sait savoir dire dit vois "
        "voir ne n' pas plus encore aussi très bien tout tous toute rien quelque chose "
        "comment quand où pourquoi combien parfait exactement super génial excusez pardon "
        "désolé revoir"
    ),
    plural_suffixes=("s",),
)
"""French."""
