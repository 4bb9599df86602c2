"""Word and character error rates after Whisper's text normalisation (needs the ``dev``
extra)."""

from __future__ import annotations

from collections.abc import Callable


def _normalizer(english: bool) -> Callable[[str], str]:
    """Whisper's English normaliser, or its basic one without diacritics (some reference
    texts of other languages lack accents)."""
    from whisper_normalizer.basic import BasicTextNormalizer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize: Callable[[str], str] = (
        EnglishTextNormalizer() if english else BasicTextNormalizer(remove_diacritics=True)
    )
    return normalize


def normalized_wer(references: list[str], hypotheses: list[str], *, english: bool = True) -> float:
    """Corpus WER of ``hypotheses`` against ``references`` after normalising both:
    Whisper's English normaliser, or (``english=False``) its basic one without
    diacritics."""
    import jiwer

    normalize = _normalizer(english)
    return float(jiwer.wer([normalize(r) for r in references], [normalize(h) for h in hypotheses]))


def normalized_cer(reference: str, hypothesis: str, *, english: bool = True) -> float:
    """Character error rate of ``hypothesis`` against ``reference``, normalised as
    :func:`normalized_wer` does."""
    import jiwer

    normalize = _normalizer(english)
    return float(jiwer.cer(normalize(reference), normalize(hypothesis)))
