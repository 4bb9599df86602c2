"""German (the caller addressed as *Sie*; "Auf Wiederhören" is the telephone goodbye)."""

from __future__ import annotations

from parley.languages.packs.base import LanguagePack, Lines, digits, phrases, words

GERMAN = LanguagePack(
    code="de",
    lines=Lines(
        idle_prompt="Sind Sie noch da?",
        idle_goodbye="Anscheinend sind Sie nicht mehr da. Auf Wiederhören!",
        max_turns_goodbye="Wir sind am Ende unserer Gesprächszeit angekommen. Auf Wiederhören!",
        policy_fallback=(
            "Das tut mir leid, dabei kann ich Ihnen nicht helfen. "
            "Kann ich sonst noch etwas für Sie tun?"
        ),
        loop_say=(
            "Entschuldigung, wir drehen uns anscheinend im Kreis. Versuchen wir es anders: "
            "Können Sie mir in wenigen Worten sagen, was Sie brauchen?"
        ),
        loop_end=(
            "Es tut mir leid, dabei kann ich Ihnen gerade nicht weiterhelfen. "
            "Danke für Ihren Anruf, auf Wiederhören."
        ),
        end_call="Vielen Dank für Ihren Anruf. Auf Wiederhören!",
        transfer="Ich verbinde Sie jetzt.",
        wait_fillers=("Einen Moment, bitte.", "Ich sehe kurz nach."),
        tool_filler="Einen Moment, ich prüfe das.",
        search_filler="Ich schaue kurz nach.",
    ),
    fillers=("äh+m*", "öh+m*", "hm+", "mm+", "also"),
    # German sentences end on verbs ("..., weil es kaputt ist"), separable particles
    # ("Ich rufe Sie an", "Kommen Sie mit") and on articles or possessives used as
    # pronouns ("Ja, die.", "Ich nehme einen."): only conjunctions and prepositions that
    # always need a noun after them count
    trailing_words=words(
        "und oder aber denn weil dass wenn ob als sondern sowie von für zum zur vom beim wegen"
    ),
    digit_words=digits("null eins zwei drei vier fünf sechs sieben acht neun", zwo="2"),
    backchannels=phrases(
        "ja|jaja|ja ja|jap|jo|genau|ja genau|okay|ok|mhm|hm|mm|aha|ah|oh|ach|ach so|achso"
        "|alles klar|klar|na klar|stimmt|richtig|gut|verstehe|ich verstehe|in ordnung|sicher"
        "|super|prima"
    ),
    non_speech=("amara.org", "untertitel im auftrag des zdf"),
    ordinal_dot=True,
    email_dot=("punkt",),
    email_at=("at", "ät"),
    email_underscore=("unterstrich",),
    email_context=("mail",),
    abbreviations=phrases(
        "z.b|d.h|u.a|s.o|o.ä|usw|bzw|bzgl|dr|prof|hr|fr|nr|str|ca|evtl|ggf|inkl|zzgl|vgl|tel"
        "|geb|mio|mrd|std|min|jh|abs|gmbh|co"
    ),
    loop_fillers=(
        "äh ähm öh hm hmm mm mhm ah oh na naja also okay ok gut ja nein jo nee doch genau "
        "bitte danke hallo tschüss"
    ),
    loop_function_words=(
        "ich mich mir mein meine meinen meinem du dich dir dein deine er sie es ihn ihm ihr "
        "ihre wir uns unser unsere euch ihnen der die das den dem des ein eine einen einem "
        "einer eines und oder aber denn weil dass wenn ob als wie was wer wo wann warum "
        "wieso in im an am auf aus bei mit nach von vom zu zum zur für über unter vor durch "
        "ist bin bist sind war waren sein hat habe hast haben hatte kann kannst können will "
        "willst wollen möchte muss soll werde wird werden mache macht machen gehe geht gehen "
        "weiß wissen sagen sage sehen nicht kein keine noch auch sehr schon mal nur so da "
        "hier dort etwas nichts alles viel super prima perfekt richtig stimmt klar "
        "entschuldigung wiederhören wiedersehen"
    ),
)
"""German."""
