"""The pack of every known language without a full pack: punctuation only.

It holds no word lists, on purpose: fillers, conjunctions, backchannels and abbreviations
written by someone who does not speak the language would cut callers off or keep them
waiting. What it does hold is the punctuation of the scripts Parley's speech-to-text and
LLMs write, so a question still ends a turn fast and replies are still split into clauses:

- Latin, Cyrillic, Greek...: ``.`` ``!`` ``?`` and ``,`` ``;`` ``:``;
- Ethiopic (Amharic, Tigrinya): the Ethiopic full stop (U+1362), question mark (U+1367),
  comma (U+1363), semicolon (U+1364) and colon (U+1365);
- Arabic script (Arabic, Persian, Urdu, Pashto...): the Arabic question mark, comma and
  semicolon, and the Urdu full stop (U+06D4);
- Devanagari and Bengali: the danda and double danda (U+0964, U+0965); the Armenian full
  stop (U+0589); the Burmese section mark (U+104B);
- Chinese and Japanese: the ideographic full stop and the full-width ``!`` ``?`` (U+3002,
  U+FF01, U+FF1F), and the ideographic and full-width commas, semicolon and colon, which
  need no space after them.

Amharic, Tigrinya, Somali and Oromo get exactly this (Somali and Oromo are written in
Latin script, so the Latin marks). Digits being dictated (written as digits) keep the turn
open in every language.

Lines: a neutral pack has no lines of its own. Fillers are left out (the agent stays
silent while a check or a tool runs), and the lines that must be said (idle check-in,
goodbyes, the policy fallback, loop lines) are the English ones: ``native_lines`` is
False. An agent in such a language should set its own policy fallback and filler
phrases, loop line and end-call message, which are said as written.
"""

from __future__ import annotations

from dataclasses import replace

from parley.languages.packs.base import LanguagePack
from parley.languages.packs.en import ENGLISH

NEUTRAL_LINES = replace(ENGLISH.lines, wait_fillers=(), tool_filler=None, search_filler=None)
"""The lines of a neutral pack: English, and no fillers."""

SENTENCE_MARKS = ".!?\u1362\u1367\u061f\u06d4\u0964\u0965\u0589\u104b"
"""Latin, Ethiopic, Arabic-script, Urdu, Indic, Armenian and Burmese sentence ends."""
CLAUSE_MARKS = ",;:\u1363\u1364\u1365\u060c\u061b"
"""Latin, Ethiopic and Arabic-script clause marks."""
QUESTION_MARKS = "?\u1367\u061f\uff1f"
"""Latin, Ethiopic, Arabic and full-width question marks."""
CLOSED_SENTENCE_MARKS = "\u3002\uff01\uff1f"
"""The ideographic full stop, full-width exclamation and question marks."""
CLOSED_CLAUSE_MARKS = "\u3001\uff0c\uff1b\uff1a"
"""The ideographic comma, full-width comma, semicolon and colon."""


def neutral_pack(code: str) -> LanguagePack:
    """A punctuation-only pack for ``code`` (no word lists; English lines, no fillers)."""
    return LanguagePack(
        code=code,
        lines=NEUTRAL_LINES,
        native_lines=False,
        question_marks=QUESTION_MARKS,
        sentence_marks=SENTENCE_MARKS,
        clause_marks=CLAUSE_MARKS,
        closed_sentence_marks=CLOSED_SENTENCE_MARKS,
        closed_clause_marks=CLOSED_CLAUSE_MARKS,
    )
