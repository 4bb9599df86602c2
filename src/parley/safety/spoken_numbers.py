"""Numbers (and email addresses) as speech-to-text writes them, rewritten for PII analysis.

"five five five, zero one three two" becomes "555-0132" and "four one one one ..." a run of
digits, so that pattern recognizers (phone, card, SSN) see them. Each character of the
rewritten text keeps the character range of the original it came from, so spans found in
the rewritten text map back onto the original (:meth:`Digits.original_span`).

Rules: single digits ("zero", "oh", "o" inside a number), "double"/"triple" + digit,
teens, tens ("twenty one" is 21), "hundred" and "thousand" ("eight hundred" is 800);
consecutive numbers are concatenated ("twelve thirty four" is 1234). Commas or hyphens
between multi-digit groups are kept as "-" ("one two three, four five, six seven eight
nine" is 123-45-6789); between single digits ("4, 1, 1, 1", "4-1-1-1") they are dropped. Runs of
fewer than three digits stay as words; runs of written digits separated only by spaces
are left as they are. "jane dot doe at example dot com" becomes "jane.doe@example.com".

Other languages (``pack=``): the spoken digits of the language pack ("cinco cinco cinco,
cero uno" is "555-01") and its words for "dot", "at" and "underscore" in addresses ("juan
punto pérez arroba example punto com"); their teens, tens and scales are not parsed
(speech-to-text writes those as digits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from parley.languages.packs import ENGLISH, LanguagePack

UNITS = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
REPEATS = {"double": 2, "triple": 3}
SCALES = {"hundred": 100, "thousand": 1000}
_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_GAP = re.compile(r"\s*[,\-]?\s*")
MIN_DIGITS = 3
_TLD = r"(?:com|org|net|edu|gov|io|co|us|uk|info|biz|me|ca|de|ai|app|dev)"
_Piece = tuple[str, list[tuple[int, int]]]
_ZERO_LETTERS = ("oh", "o")
"""English: zero only inside a number ("oh five five five")."""


@dataclass(frozen=True, slots=True)
class _Tables:
    """The number and address words of one language."""

    units: Mapping[str, int]
    teens: Mapping[str, int]
    tens: Mapping[str, int]
    repeats: Mapping[str, int]
    scales: Mapping[str, int]
    zero_letters: tuple[str, ...]
    joiner: str | None  # "four hundred and two"
    email: re.Pattern[str]
    dot: re.Pattern[str]
    underscore: re.Pattern[str]
    at: re.Pattern[str]
    context: tuple[str, ...]
    """Words that, shortly before an address, say an address follows ("mail")."""


def _spoken(words: tuple[str, ...]) -> str:
    if not words:
        return "(?!)"  # never matches
    return "(?:" + "|".join(r"\s+".join(map(re.escape, w.split())) for w in words) + ")"


def _email_patterns(
    dot: str, at: str, underscore: str
) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    email = re.compile(
        rf"\b(?P<local>[a-z0-9][\w.+-]*(?:\s+(?:{dot}|{underscore})\s+[\w+-]+)*)\s+{at}\s+"
        rf"[a-z0-9-]+(?:(?:\s+{dot}\s+|\.)[a-z0-9-]+)*(?:\s+{dot}\s+|\.){_TLD}\b",
        re.IGNORECASE,
    )
    return (
        email,
        re.compile(rf"\s+{dot}\s+", re.IGNORECASE),
        re.compile(rf"\s+{underscore}\s+", re.IGNORECASE),
        re.compile(rf"\s+{at}\s+", re.IGNORECASE),
    )


@cache
def _tables(pack: LanguagePack) -> _Tables:
    email = _email_patterns(
        _spoken(pack.email_dot), _spoken(pack.email_at), _spoken(pack.email_underscore)
    )
    if pack is ENGLISH:
        return _Tables(UNITS, TEENS, TENS, REPEATS, SCALES, _ZERO_LETTERS, "and", *email, ("mail",))
    units = {  # single digits said as one word (the parser reads digit by digit)
        word: int(digit)
        for word, digit in pack.digit_words.items()
        if len(digit) == 1 and _TOKEN.fullmatch(word)
    }
    return _Tables(units, {}, {}, {}, {}, (), None, *email, pack.email_context)


@dataclass(frozen=True, slots=True)
class Digits:
    """Text for analysis, with the original character range of each of its characters."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @property
    def changed(self) -> bool:
        """Whether any number words were rewritten."""
        return self.text != self.original

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The range of the original text that ``text[start:end]`` came from."""
        if not self.changed or end <= start:
            return start, end
        return self.starts[start], self.ends[end - 1]


@dataclass(slots=True)
class _Token:
    word: str  # lower case
    start: int
    end: int
    comma_before: bool = False  # a comma or hyphen between this token and the previous one


@dataclass(slots=True)
class _Chunk:
    """One number inside a run: its digits and the original range they came from."""

    start: int
    end: int
    comma_before: bool = False
    thousands: int = 0
    part: int = 0  # below a thousand
    literal: str | None = None  # written digits, or repeats ("double five" -> "55")
    state: str = "done"  # "tens": takes a unit; "scaled": takes tens, teens or units

    @property
    def digits(self) -> str:
        return self.literal if self.literal is not None else str(self.thousands + self.part)


def _is_number(tokens: list[_Token], i: int, text: str, t: _Tables) -> bool:
    word = tokens[i].word
    if word.isdigit() or word in t.teens or word in t.tens or word in t.scales:
        return True
    if word in t.units:
        # "o'clock" is not a zero
        return not (word == "o" and text[tokens[i].end : tokens[i].end + 1] in ("'", "\u2019"))
    nxt = tokens[i + 1].word if i + 1 < len(tokens) else ""
    if word in t.repeats:
        return nxt in t.units or (nxt.isdigit() and len(nxt) == 1)
    if word == t.joiner:  # "four hundred and two"
        prev = tokens[i - 1].word if i else ""
        return prev in t.scales and (nxt in t.units or nxt in t.teens or nxt in t.tens)
    return False


def _runs(text: str, t: _Tables) -> list[list[_Token]]:
    tokens = [_Token(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    runs: list[list[_Token]] = []
    current: list[_Token] = []
    for i, token in enumerate(tokens):
        if not _is_number(tokens, i, text, t):
            if current:
                runs.append(current)
            current = []
            continue
        if current:
            gap = text[current[-1].end : token.start]
            if _GAP.fullmatch(gap) is None:
                runs.append(current)
                current = []
            else:
                # "twenty-one" is one number; "555, 0132" and "555 - 0132" are two groups
                token.comma_before = "," in gap or ("-" in gap and gap != "-")
        current.append(token)
    if current:
        runs.append(current)
    return [trimmed for run in runs if (trimmed := _trim(run, t))]


def _trim(run: list[_Token], t: _Tables) -> list[_Token]:
    """Drop leading/trailing words that are numbers only next to others ("oh", "and")."""
    zero, joiner = t.zero_letters, (t.joiner,) if t.joiner else ()
    while run and (run[0].word in (*zero, *joiner) or run[0].word in t.scales):
        if run[0].word in zero and len(run) > 1 and not run[1].comma_before:
            break  # "oh five five five": a zero
        run = run[1:]
    while run and (
        run[-1].word in (*joiner, *t.repeats)
        or (run[-1].word in zero and (len(run) == 1 or run[-1].comma_before))
    ):
        run = run[:-1]
    if any(token.word not in zero for token in run):
        return run
    return []


def _chunks(run: list[_Token], t: _Tables) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    repeat = 0
    for i, token in enumerate(run):
        word = token.word
        nxt = run[i + 1].word if i + 1 < len(run) else ""
        last = chunks[-1] if chunks else None
        if repeat and last is not None:  # the digit after "double"/"triple"
            digit = word if word.isdigit() else str(t.units[word])
            last.literal, last.end, repeat = digit * repeat, token.end, 0
            continue
        if word in t.repeats:
            repeat = t.repeats[word]
            chunks.append(_Chunk(token.start, token.end, token.comma_before, literal=""))
            continue
        if word.isdigit():
            chunks.append(_Chunk(token.start, token.end, token.comma_before, literal=word))
            continue
        if word == t.joiner:
            continue
        value = t.units.get(word, t.teens.get(word, t.tens.get(word, t.scales.get(word, 0))))
        joinable = last is not None and last.literal is None and not token.comma_before
        if joinable and last is not None and _extend(last, word, value, nxt, t):
            last.end = token.end
            continue
        chunk = _Chunk(token.start, token.end, token.comma_before, part=value)
        chunk.state = "tens" if word in t.tens else "scaled" if word in t.scales else "done"
        chunks.append(chunk)
    return chunks


def _extend(chunk: _Chunk, word: str, value: int, nxt: str, t: _Tables) -> bool:
    """Add ``word`` to the number being read, if it continues it ("twenty" + "one"); not
    a digit read out one by one ("eight hundred, five five five")."""
    if word == "thousand" and chunk.thousands == 0 and 0 < chunk.part < 1000:
        chunk.thousands, chunk.part, chunk.state = chunk.part * 1000, 0, "scaled"
        return True
    if word == "hundred" and 0 < chunk.part < 100 and chunk.state != "scaled":
        chunk.part, chunk.state = chunk.part * 100, "scaled"
        return True
    if word in t.scales or value == 0:
        return False
    if chunk.state == "tens" and word in t.units:
        chunk.part, chunk.state = chunk.part + value, "done"
        return True
    if chunk.state == "scaled" and word in t.units and nxt in t.units:
        return False
    if chunk.state == "scaled" and chunk.part % 100 == 0:
        chunk.part += value
        chunk.state = "tens" if word in t.tens else "done"
        return True
    return False


def _groups(chunks: list[_Chunk]) -> list[list[_Chunk]]:
    """Chunks split where a comma or hyphen stood; single-digit groups are merged."""
    groups: list[list[_Chunk]] = []
    for chunk in chunks:
        if groups and not chunk.comma_before:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    if all(len("".join(c.digits for c in g)) == 1 for g in groups):
        return [[c for g in groups for c in g]]
    return groups


def _number_pieces(text: str, run: list[_Token], t: _Tables) -> list[_Piece] | None:
    """The digits of a run of number words, or None where the run stays as it is."""
    has_words = any(not t.word.isdigit() for t in run)
    spelled = all(len(t.word) == 1 for t in run)  # "4-1-1-1", "4 1 1 1"
    if not has_words and not spelled and not any(t.comma_before for t in run[1:]):
        return None  # written numbers ("415-555-0132", "4111 1111"): left as they are
    chunks = _chunks(run, t)
    if sum(len(c.digits) for c in chunks) < MIN_DIGITS:
        return None
    pieces: list[_Piece] = []
    for n, group in enumerate(_groups(chunks)):
        if n:
            pieces.append(("-", [(group[0].start, group[0].start)]))
        pieces += [(c.digits, [(c.start, c.end)] * len(c.digits)) for c in group]
    return pieces


def _emails(text: str, t: _Tables) -> list[tuple[int, int, str]]:
    """Spoken email addresses ("jane dot doe at example dot com"): (start, end, written)."""
    found = []
    for m in t.email.finditer(text):
        local = m.group("local")
        spoken = t.dot.search(f" {local} ") or t.underscore.search(f" {local} ")
        plain = not re.search(r"[._\d]", local) and spoken is None
        before = text[max(0, m.start() - 40) : m.start()].lower()
        if plain and not any(word in before for word in t.context):
            continue  # "look at example.com" is not an address
        written = t.dot.sub(".", t.underscore.sub("_", m.group()))
        found.append((m.start(), m.end(), t.at.sub("@", written, count=1)))
    return found


def to_digits(text: str, *, pack: LanguagePack = ENGLISH) -> Digits:
    """``text`` with spoken numbers written as digits and spoken email addresses written
    as addresses (in ``pack``'s language), and the way back to ``text``."""
    t = _tables(pack)
    replacements: list[tuple[int, int, list[_Piece]]] = []
    for start, end, written in _emails(text, t):
        replacements.append((start, end, [(written, [(start, end)] * len(written))]))
    taken = [(s, e) for s, e, _ in replacements]
    for run in _runs(text, t):
        start, end = run[0].start, run[-1].end
        if any(s < end and start < e for s, e in taken):
            continue
        pieces = _number_pieces(text, run, t)
        if pieces is not None:
            replacements.append((start, end, pieces))
    if not replacements:
        return Digits(text, text, (), ())
    out: list[_Piece] = []
    cursor = 0
    for start, end, pieces in sorted(replacements, key=lambda r: r[0]):
        out.append((text[cursor:start], [(i, i + 1) for i in range(cursor, start)]))
        out += pieces
        cursor = end
    out.append((text[cursor:], [(i, i + 1) for i in range(cursor, len(text))]))
    ranges = [r for _, rs in out for r in rs]
    return Digits(
        text, "".join(p for p, _ in out), tuple(r[0] for r in ranges), tuple(r[1] for r in ranges)
    )
