"""Heading-aware chunking with overlap.

A chunk never spans two sections. A section longer than ``max_words`` is cut at
paragraph boundaries, then sentences, then lines, then words; each chunk after the
first in a section starts with the last sentences (about ``overlap_words``) of the one
before, so a fact at a cut is whole in at least one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from parley.knowledge.parsing import Section

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")
_BOUNDARY = re.compile(r"(?<=[.!?;:])\s+(?=\S)|\n\s*\n")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: its position in the document, heading path and text."""

    position: int
    heading: str
    text: str

    @property
    def for_embedding(self) -> str:
        """The text to embed: the heading path gives the passage its context."""
        return f"{self.heading}: {self.text}" if self.heading else self.text

    @property
    def words(self) -> int:
        return len(self.text.split())


def chunk(
    sections: Iterable[Section], *, max_words: int = 180, overlap_words: int = 30
) -> list[Chunk]:
    """Cut ``sections`` into chunks of at most ``max_words`` words, numbered from 0."""
    if max_words < 10:
        raise ValueError("max_words must be at least 10")
    if not 0 <= overlap_words <= max_words // 2:
        raise ValueError("overlap_words must be between 0 and max_words / 2")
    chunks: list[Chunk] = []
    for section in sections:
        for text in _split_section(section.text, max_words, overlap_words):
            chunks.append(Chunk(len(chunks), section.heading, text))
    return chunks


def _words(text: str) -> int:
    return len(text.split())


def _units(text: str, max_words: int, run: int) -> list[tuple[str, bool]]:
    """(piece, starts a paragraph) pieces each at most ``max_words`` words long."""
    units: list[tuple[str, bool]] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        fits = _words(paragraph) <= max_words
        pieces = [paragraph] if fits else _pieces(paragraph, max_words, run)
        units.extend((piece, index == 0) for index, piece in enumerate(pieces))
    return units


def _pieces(paragraph: str, max_words: int, run: int) -> list[str]:
    """A long paragraph as sentences (then lines, then runs of ``run`` words) that fit."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if _words(sentence) <= max_words:
            out.append(sentence)
            continue
        for line in sentence.split("\n"):
            words = line.split()
            out.extend(" ".join(words[i : i + run]) for i in range(0, len(words), run))
    return [piece for piece in out if piece.strip()]


def _tail(text: str, overlap_words: int) -> str:
    """The last whole sentences of ``text`` within ``overlap_words`` (or its last words)."""
    text = text.strip()
    if overlap_words == 0:
        return ""
    starts = sorted({m.end() for m in _BOUNDARY.finditer(text)})
    for start in starts:  # the earliest boundary whose tail fits
        if _words(text[start:]) <= overlap_words:
            return text[start:].strip()
    return " ".join(text.split()[-overlap_words:])


def _split_section(text: str, max_words: int, overlap_words: int) -> list[str]:
    # word runs leave room for the overlap, so a cut mid-sentence still overlaps
    units = _units(text, max_words, max_words - overlap_words)
    if sum(_words(u) for u, _ in units) <= max_words:
        joined = _join(units)
        return [joined] if joined else []
    chunks: list[str] = []
    current: list[tuple[str, bool]] = []
    size = 0
    fresh = 0  # units in ``current`` that are not overlap from the chunk before
    for unit, starts_paragraph in units:
        words = _words(unit)
        if current and fresh and size + words > max_words:
            chunks.append(_join(current))
            tail = _tail(_join(current), overlap_words)
            current = [(tail, True)] if tail and _words(tail) + words <= max_words else []
            size = _words(tail) if current else 0
            fresh = 0
        current.append((unit, starts_paragraph))
        size += words
        fresh += 1
    if fresh:
        chunks.append(_join(current))
    return chunks


def _join(units: list[tuple[str, bool]]) -> str:
    text = ""
    for unit, starts_paragraph in units:
        if not text:
            text = unit
        elif starts_paragraph:
            text += "\n\n" + unit
        else:
            text += " " + unit
    return text.strip()
