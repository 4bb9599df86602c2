"""Language packs: end-of-turn rules, backchannels, clause splitting, numbers and the
agent's own lines in Spanish, French and German; the punctuation-only pack of every
other language; English stays the default everywhere."""

from __future__ import annotations

import httpx
import pytest
from pydantic import TypeAdapter

from parley.core.agent import AgentConfig
from parley.core.clauses import ClauseAggregator
from parley.core.endpointing import (
    FILLER_MS,
    NUMBER_MS,
    QUESTION_MS,
    TRAILING_WORD_MS,
    has_words,
    is_backchannel,
    matching_rule,
    silence_target_ms,
)
from parley.core.hooks import Answer, Hold, Replace, TurnInfo
from parley.core.upkeep import Say, Upkeep
from parley.languages import AUTO, NAMES
from parley.languages.packs import ENGLISH, PACKS, LanguagePack, all_fixed_lines, pack_for
from parley.safety.judge import CriteriaJudge
from parley.safety.loops import LoopDetector, LoopSettings, content_words, utterance_words
from parley.safety.policy import PolicyBody
from parley.safety.policy_hook import PolicyHook, SessionPolicy
from parley.safety.spoken_numbers import to_digits
from parley.safety.terms import BlockedTerms, words
from parley.testing.fakes import ManualClock, ScriptedLLM
from parley.tools.definitions import AnyTool, ToolDefinition
from parley.tools.runner import ServerTools, ToolContext

BASE = 800.0
ES, FR, DE = pack_for("es"), pack_for("fr"), pack_for("de")

# (pack, a filler ending, a trailing conjunction/article, a finished question,
#  a finished statement, digits being dictated)
CASES = {
    "es": (
        "Quería preguntar, eh",
        "Necesito cambiar la dirección y",
        "¿A qué hora abren mañana?",
        "Así es.",
        "Mi número es seis uno dos, cinco cinco",
    ),
    "fr": (
        "Je voudrais savoir, euh",
        "Je voudrais changer mon adresse et",
        "Vous êtes ouverts demain ?",
        "Faites-le.",
        "Mon numéro c'est zéro six, douze",
    ),
    "de": (
        "Ich wollte fragen, ähm",
        "Ich möchte meine Adresse ändern und",
        "Haben Sie morgen geöffnet?",
        "Ich rufe Sie morgen an.",
        "Meine Nummer ist null eins sieben zwo",
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_fillers_and_trailing_words_extend_the_silence(code: str) -> None:
    pack = pack_for(code)
    filler, trailing, *_ = CASES[code]
    assert silence_target_ms(filler, BASE, pack=pack) == FILLER_MS
    assert silence_target_ms(trailing, BASE, pack=pack) == TRAILING_WORD_MS
    # the English pack does not know these words
    assert silence_target_ms(trailing, BASE) == BASE


@pytest.mark.parametrize("code", sorted(CASES))
def test_a_question_ends_fast_and_a_statement_waits_the_base(code: str) -> None:
    pack = pack_for(code)
    _, _, question, statement, _ = CASES[code]
    assert silence_target_ms(question, BASE, pack=pack) == QUESTION_MS
    assert silence_target_ms(statement, BASE, pack=pack) == BASE


@pytest.mark.parametrize("code", sorted(CASES))
def test_spoken_digits_being_dictated_keep_the_turn_open(code: str) -> None:
    pack = pack_for(code)
    rule = matching_rule(CASES[code][4], pack=pack)
    assert rule is not None and rule.name == "incomplete_number"
    assert rule.silence_ms == NUMBER_MS


def test_words_that_only_look_like_trailing_words_do_not_hold_the_turn() -> None:
    # French: an imperative pronoun after a hyphen, "un" as a pronoun, "Mais si !"
    for text in ("Dites-le.", "J'en veux un.", "Mais si !", "Je sais ce que c'est."):
        assert silence_target_ms(text, BASE, pack=FR) == BASE, text
    # German: verb-final clauses, separable particles, pronoun articles
    for text in ("weil es kaputt ist.", "Kommen Sie mit.", "Ja, die.", "Bis dann."):
        assert silence_target_ms(text, BASE, pack=DE) == BASE, text
    # Spanish: "es" and "bueno" end turns
    for text in ("Así es.", "Bueno."):
        assert silence_target_ms(text, BASE, pack=ES) == BASE, text


@pytest.mark.parametrize(
    ("code", "feedback", "turn"),
    [
        ("es", ["sí", "vale", "claro", "ajá", "Sí, claro.", "vale, de acuerdo"],
         "Sí, pero quiero cambiar la fecha de la entrega."),
        ("fr", ["oui", "d'accord", "ouais", "mh", "Oui, d\u2019accord.", "ah bon"],
         "Oui, mais je voudrais changer la date."),
        ("de", ["ja", "genau", "okay", "mhm", "Ja, genau.", "ach so"],
         "Ja, aber ich möchte den Termin verschieben."),
    ],
)  # fmt: skip
def test_backchannels_are_recognised_and_longer_turns_are_not(
    code: str, feedback: list[str], turn: str
) -> None:
    pack = pack_for(code)
    for text in feedback:
        assert is_backchannel(text, pack=pack), text
    assert not is_backchannel(turn, pack=pack)
    assert not is_backchannel("sí" if code != "es" else "genau", pack=pack)


def test_known_silence_hallucinations_hold_no_words() -> None:
    credit = "Subtítulos realizados por la comunidad de Amara.org"
    assert not has_words(credit, pack=ES)
    assert not has_words("Untertitel im Auftrag des ZDF, 2017", pack=DE)
    assert has_words("Hola, buenos días.", pack=ES)
    assert has_words(credit), "English keeps its rules"


def _clauses(text: str, pack: LanguagePack, **kwargs: int) -> list[str]:
    aggregator = ClauseAggregator(pack=pack, **kwargs)
    out = [c for token in text.split(" ") for c in aggregator.push(token + " ")]
    return out + aggregator.flush()


def test_abbreviations_do_not_split_clauses() -> None:
    es = "El Sr. García le llamará mañana. La Dra. Pérez también, etc. ¿Algo más?"
    assert _clauses(es, ES) == [
        "El Sr. García le llamará mañana.",
        "La Dra. Pérez también, etc. ¿Algo más?",
    ]
    de = "Sie können z. B. online zahlen. Oder bzw. per Karte. Danke."
    assert _clauses(de, DE) == ["Sie können z. B. online zahlen.", "Oder bzw. per Karte.", "Danke."]
    fr = "Mme Durand et M. Martin arrivent, p. ex. demain. Merci."
    assert _clauses(fr, FR, first_clause_min_chars=100) == [
        "Mme Durand et M. Martin arrivent, p. ex. demain.",
        "Merci.",
    ]
    # English does not know "Sr." as Spanish "señor" only by chance: "Dra." it does not
    assert _clauses("La Dra. Pérez llama.", ENGLISH) == ["La Dra.", "Pérez llama."]


def test_a_german_ordinal_date_stays_in_one_clause() -> None:
    assert _clauses("Ihr Termin ist am 3. Mai um zehn Uhr. Passt das?", DE) == [
        "Ihr Termin ist am 3. Mai um zehn Uhr.",
        "Passt das?",
    ]


def test_other_scripts_split_at_their_own_punctuation() -> None:
    amharic = pack_for("am")
    text = "\u1230\u120b\u121d \u1290\u12cd\u1362 \u12a5\u1295\u12f4\u1275 \u1290\u1205\u1367 "
    assert _clauses(text, amharic) == [
        "\u1230\u120b\u121d \u1290\u12cd\u1362",
        "\u12a5\u1295\u12f4\u1275 \u1290\u1205\u1367",
    ]
    chinese = pack_for("zh")
    aggregator = ClauseAggregator(pack=chinese)
    assert aggregator.push("\u4f60\u597d\u3002\u4eca\u5929") == ["\u4f60\u597d\u3002"]
    # the Ethiopic question mark ends a turn fast
    assert silence_target_ms("\u12a5\u1295\u12f4\u1275 \u1290\u1205\u1367", BASE, pack=amharic) == (
        QUESTION_MS
    )


def test_spoken_numbers_and_addresses_for_personal_data() -> None:
    assert to_digits("es el seis uno dos, tres cuatro cinco", pack=ES).text == "es el 612-345"
    assert to_digits("null eins sieben zwo, fünf fünf fünf", pack=DE).text == "0172-555"
    spoken = "mi correo es ana punto gómez arroba example punto com"
    digits = to_digits(spoken, pack=ES)
    assert digits.text == "mi correo es ana.gómez@example.com"
    start = digits.text.index("ana")
    assert digits.original_span(start, len(digits.text)) == (spoken.index("ana"), len(spoken))
    # English number words mean nothing in Spanish
    assert to_digits("five five five", pack=ES).text == "five five five"


def test_loop_detection_uses_the_languages_fillers_and_function_words() -> None:
    assert utterance_words("Eh, vale, quiero el pedido", pack=ES) == ["quiero", "el", "pedido"]
    assert content_words(words("Quiero saber dónde está mi pedido"), pack=ES) == ["pedido"]
    # "sí, vale" has no content words in Spanish: it is never a repeat
    detector = LoopDetector(LoopSettings(user_repeats=2), pack=ES)
    assert detector.user_turn("Sí, vale.") is None
    assert detector.user_turn("Sí, vale.") is None
    found = [detector.user_turn("Necesito hablar con facturación") for _ in range(2)]
    assert found[-1] is not None and found[-1].signal == "user_repeats"
    assert LoopSettings().spoken_line(DE) == DE.lines.loop_say
    assert LoopSettings(action="end").spoken_line(FR) == FR.lines.loop_end


@pytest.mark.parametrize("code", sorted(CASES))
def test_every_line_exists_and_differs_from_english(code: str) -> None:
    lines, english = pack_for(code).lines, ENGLISH.lines
    for name in (
        "idle_prompt", "idle_goodbye", "max_turns_goodbye", "policy_fallback", "loop_say",
        "loop_end", "end_call", "transfer", "tool_filler", "search_filler",
    ):  # fmt: skip
        line = getattr(lines, name)
        assert isinstance(line, str) and line.strip(), name
        assert line != getattr(english, name), name
    assert lines.wait_fillers and set(lines.wait_fillers).isdisjoint(english.wait_fillers)
    assert pack_for(code).native_lines
    assert pack_for(code).fixed_lines() >= {lines.idle_prompt, *lines.wait_fillers}
    assert pack_for(code).fixed_lines() <= all_fixed_lines()


def test_upkeep_speaks_the_current_language() -> None:
    clock = ManualClock()
    agent = AgentConfig("agt_x", "p", "tone", idle_timeout_ms=1000.0, idle_prompts=1)
    upkeep = Upkeep(agent, clock, pack=ES)
    clock.advance(1.0)
    assert upkeep.idle_check(busy=False) == Say("¿Sigue ahí?")
    upkeep.pack = DE  # the caller switched to German
    upkeep.agent_done()
    clock.advance(1.0)
    assert upkeep.idle_check(busy=False) == Say(DE.lines.idle_goodbye, then_end="idle")


async def test_the_policy_hook_answers_in_the_turns_language() -> None:
    body = PolicyBody.model_validate(
        {
            "name": "p",
            "blocked_terms": ["garantizado"],
            "user_blocked_terms": ["tarjeta robada"],
            "criteria": [{"name": "polite", "rule": "Be polite.", "applies_to": "user"}],
        }
    )
    judge = CriteriaJudge(ScriptedLLM("No"), body.criteria, 2.0)
    policy = SessionPolicy(
        "pol_1", body, BlockedTerms(body.blocked_terms), BlockedTerms(body.user_blocked_terms),
        None, judge,
    )  # fmt: skip
    hook = PolicyHook(policy)
    spanish = TurnInfo("ses_1", "agt_1", "turn_1", language="es")
    blocked = await hook.on_user_turn(spanish, "Tengo una tarjeta robada")
    assert blocked == Answer(ES.lines.policy_fallback)
    held = await hook.on_user_turn(spanish, "Hola")
    assert isinstance(held, Hold) and held.filler in ES.lines.wait_fillers
    await held.verdict
    french = TurnInfo("ses_1", "agt_1", "turn_2", language="fr")
    assert await hook.on_clause(french, "C'est garantizado.") == Replace(
        FR.lines.policy_fallback, final=True
    )
    # a language without a full pack: English fallback, no filler at all
    somali = TurnInfo("ses_1", "agt_1", "turn_3", language="so")
    held = await hook.on_user_turn(somali, "Hola")
    assert isinstance(held, Hold) and held.filler is None
    await held.verdict
    assert policy.fixed_lines(ES) >= {ES.lines.policy_fallback, *ES.lines.wait_fillers}


def test_every_other_known_language_gets_a_punctuation_only_pack() -> None:
    for code in sorted(set(NAMES) - set(PACKS)):
        pack = pack_for(code)
        assert pack.code == code and not pack.native_lines
        assert not (pack.fillers or pack.trailing_words or pack.backchannels)
        assert not (pack.abbreviations or pack.digit_words or pack.loop_fillers)
        assert pack.lines.wait_fillers == () and pack.lines.tool_filler is None
    somali = pack_for("so")
    assert silence_target_ms("Maxaad rabtaa?", BASE, pack=somali) == QUESTION_MS
    assert silence_target_ms("Waxaan rabaa and", BASE, pack=somali) == BASE
    assert silence_target_ms("Lambarkaygu waa 061 55", BASE, pack=somali) == NUMBER_MS
    assert not is_backchannel("okay", pack=somali)


def test_pack_for_takes_locale_tags_and_refuses_auto_and_unknown_codes() -> None:
    assert pack_for("es-MX") is ES and pack_for("de_AT") is DE and pack_for("EN") is ENGLISH
    with pytest.raises(ValueError, match="auto"):
        pack_for(AUTO)
    with pytest.raises(ValueError, match="unknown"):
        pack_for("xx")


async def test_tool_fillers_follow_the_language() -> None:
    definitions: list[AnyTool] = TypeAdapter(list[ToolDefinition]).validate_python(
        [
            {"type": "knowledge_search", "k": 2},
            {"type": "webhook", "name": "own", "description": "x", "filler": "Hang on.",
             "webhook": {"url": "https://x.example/"}},
            {"type": "webhook", "name": "plain", "description": "x",
             "webhook": {"url": "https://x.example/"}},
        ]
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        tools = ServerTools(definitions, ToolContext("ses_1", "agt_1", http), web_search=True)
        assert tools.filler("plain") == ENGLISH.lines.tool_filler
        assert tools.filler("plain", "de") == DE.lines.tool_filler
        assert tools.filler("knowledge_search", "es") == ES.lines.search_filler
        assert tools.filler("own", "fr") == "Hang on.", "a tool's own filler is said as written"
        assert tools.filler("plain", "so") is None, "no filler where the language has none"
        tools.pack = FR
        assert tools.filler("web_search") == FR.lines.search_filler
        assert tools.lines() == {"Hang on.", FR.lines.tool_filler, FR.lines.search_filler}
        assert tools.lines("so") == {"Hang on."}
