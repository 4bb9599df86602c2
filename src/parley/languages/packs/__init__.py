"""Language packs: what turn-taking, clause splitting, loop detection and the agent's own
lines need to know about a language.

Full packs: English (the default everywhere), Spanish, French and German. Every other
language in :data:`parley.languages.NAMES` gets a punctuation-only pack
(:mod:`parley.languages.packs.neutral`, which says exactly what that covers, including
Amharic, Tigrinya, Somali and Oromo).
"""

from __future__ import annotations

from functools import cache

from parley.languages import AUTO, NAMES, base_code
from parley.languages.packs.base import LanguagePack, Lines
from parley.languages.packs.de import GERMAN
from parley.languages.packs.en import ENGLISH
from parley.languages.packs.es import SPANISH
from parley.languages.packs.fr import FRENCH
from parley.languages.packs.neutral import neutral_pack

__all__ = ["ENGLISH", "FRENCH", "GERMAN", "PACKS", "SPANISH", "LanguagePack", "Lines"]
__all__ += ["all_fixed_lines", "pack_for", "pack_or_default"]

PACKS: dict[str, LanguagePack] = {p.code: p for p in (ENGLISH, SPANISH, FRENCH, GERMAN)}
"""The full packs, by language code."""


def pack_for(code: str) -> LanguagePack:
    """The pack of ``code`` (a language code or locale tag: ``"es"``, ``"es-MX"``).

    A full pack where there is one, else the punctuation-only pack of a known language.
    Raises ValueError for :data:`parley.languages.AUTO` (resolve it to the caller's
    language first) and for codes Parley does not know.
    """
    base = base_code(code)
    if base == AUTO:
        raise ValueError("'auto' is not a language: pass the conversation's current language")
    if base in PACKS:
        return PACKS[base]
    if base in NAMES:
        return _neutral(base)
    raise ValueError(f"unknown language code {code!r}")


@cache
def _neutral(code: str) -> LanguagePack:
    """One punctuation-only pack per known code (packs compare by identity)."""
    return neutral_pack(code)


def pack_or_default(code: str | None, default: LanguagePack = ENGLISH) -> LanguagePack:
    """:func:`pack_for` ``code``, or ``default`` for None, :data:`AUTO` or an unknown
    code (for call paths that must not fail on a bad language)."""
    if code is None:
        return default
    try:
        return pack_for(code)
    except ValueError:
        return default


def all_fixed_lines(codes: tuple[str, ...] | None = None) -> frozenset[str]:
    """The fixed lines of the packs of ``codes`` (default: every full pack)."""
    packs = PACKS.values() if codes is None else (pack_for(c) for c in codes)
    return frozenset(line for pack in packs for line in pack.fixed_lines())
