"""The shape of a language pack: what turn-taking and the agent's own lines need to know
about one language. Packs are plain data; the modules that use them build their regexes
from it (and cache them per pack)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def words(text: str) -> tuple[str, ...]:
    """The space-separated words of ``text`` (word lists are written as one string)."""
    return tuple(text.split())


def phrases(text: str) -> frozenset[str]:
    """The ``|``-separated phrases of ``text`` ("mhm|uh huh|got it")."""
    return frozenset(p.strip() for p in text.split("|") if p.strip())


def digits(text: str, **more: str) -> dict[str, str]:
    """The spoken digits zero to nine ("cero uno dos ..."), and ``more`` ("zwo": "2")."""
    spoken = text.split()
    if len(spoken) != 10:
        raise ValueError("name the ten digits, zero to nine")
    return {word: str(n) for n, word in enumerate(spoken)} | more


SENTENCE_MARKS = ".!?"
CLAUSE_MARKS = ",;:"
QUESTION_MARKS = "?"


@dataclass(frozen=True, slots=True)
class Lines:
    """What the agent says on its own (not written by the LLM), in one language.

    ``wait_fillers``, ``tool_filler`` and ``search_filler`` are optional: empty or None
    means the agent stays silent while a check or a tool runs.
    """

    idle_prompt: str
    """The check-in after the caller stayed silent too long."""
    idle_goodbye: str
    """Said before hanging up on a caller who stayed silent after the check-ins."""
    max_turns_goodbye: str
    """Said before hanging up once the conversation reached the agent's ``max_turns``."""
    policy_fallback: str
    """Said instead of words a content policy blocks (when the policy names none)."""
    loop_say: str
    """Said when a loop is found and the action is ``say`` (when the settings name none)."""
    loop_end: str
    """Said before hanging up when a loop is found and the action is ``end``."""
    end_call: str
    """The goodbye of the ``end_call`` tool (when the tool names none of its own)."""
    transfer: str
    """Said before a ``transfer_call`` (when the tool names none of its own)."""
    wait_fillers: tuple[str, ...] = ()
    """Said (in turn) while a content check is slow (when the policy names none)."""
    tool_filler: str | None = None
    """Said while a server-run tool takes long."""
    search_filler: str | None = None
    """Said while a web or knowledge search takes long."""

    def all(self) -> frozenset[str]:
        """Every line above (for synthesizing once)."""
        said = {
            self.idle_prompt,
            self.idle_goodbye,
            self.max_turns_goodbye,
            self.policy_fallback,
            self.loop_say,
            self.loop_end,
            self.end_call,
            self.transfer,
            *self.wait_fillers,
        }
        said.update(line for line in (self.tool_filler, self.search_filler) if line)
        return frozenset(said)


@dataclass(frozen=True, eq=False)
class LanguagePack:
    """Everything language-specific about turn-taking, clause splitting, loop detection
    and the agent's fixed lines, for one language (``code``).

    Word lists are lowercase. End-of-turn words are matched at the end of the transcript
    as whole words (not after ``'`` or ``-``: French "dites-le" does not end in an
    article). Packs compare by identity, so modules can cache what they derive from one.
    """

    code: str
    lines: Lines
    native_lines: bool = True
    """False when ``lines`` are not in this language (they are English; see the docs)."""
    # ------------------------------------------------------------ end of turn
    fillers: tuple[str, ...] = ()
    """Hesitations that mean more is coming, as regex alternatives ("um+", "o sea")."""
    trailing_words: tuple[str, ...] = ()
    """Words a finished turn does not end on: conjunctions, articles, prepositions."""
    digit_words: Mapping[str, str] = field(default_factory=dict)
    """Spoken digits ("cinco" → "5"), so a number being dictated keeps the turn open; may
    also hold the pairs a language dictates numbers in (French "douze" → "12")."""
    question_marks: str = QUESTION_MARKS
    """A transcript ending in one of these is a finished question: answer fast."""
    backchannels: frozenset[str] = frozenset()
    """Listener feedback ("mhm", "claro") that does not take the turn (phrases too)."""
    non_speech: tuple[str, ...] = ()
    """Lowercase text speech-to-text is known to write for silence or music in this
    language (e.g. subtitle credits); a transcript containing one holds no words."""
    # ------------------------------------------------------------ personal data
    email_dot: tuple[str, ...] = ()
    """How "." is said in a spoken email address ("dot", "punto")."""
    email_at: tuple[str, ...] = ()
    """How "@" is said ("at", "arroba")."""
    email_underscore: tuple[str, ...] = ()
    """How "_" is said ("underscore", "guion bajo")."""
    email_context: tuple[str, ...] = ()
    """Words that, shortly before "name at example dot com", say it is an address."""
    # ------------------------------------------------------------ clauses
    sentence_marks: str = SENTENCE_MARKS
    """End a sentence when followed by whitespace."""
    clause_marks: str = CLAUSE_MARKS
    """May end the first clause of a reply early, when followed by whitespace."""
    closed_sentence_marks: str = ""
    """End a sentence with nothing after them (full-width "。", no spaces between words)."""
    closed_clause_marks: str = ""
    """Clause marks that need no whitespace after them (the ideographic comma...)."""
    abbreviations: frozenset[str] = frozenset()
    """Words that a dot after them does not end a sentence ("dr", "z.b"), lowercase."""
    ordinal_dot: bool = False
    """A dot after one or two digits is an ordinal, not a sentence end (German "am 3. Mai")."""
    # ------------------------------------------------------------ loop detection
    loop_fillers: str = ""
    """Words left out of the sequences compared for near-duplicates (space separated)."""
    loop_function_words: str = ""
    """Words that are not content words (space separated): function words, thanks."""
    plural_suffixes: tuple[str, ...] = ()
    """Stripped from content words compared for progress ("orders" → "order")."""

    def fixed_lines(self) -> frozenset[str]:
        """Every line this pack may have the agent say: worth synthesizing once."""
        return self.lines.all()
