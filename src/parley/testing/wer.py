"""Word error rate after Whisper's text normalisation (needs the ``dev`` extra)."""

from __future__ import annotations


def normalized_wer(references: list[str], hypotheses: list[str], *, english: bool = True) -> float:
    """Corpus WER of ``hypotheses`` against ``references`` after normalising both:
    Whisper's English normaliser, or (``english=False``) its basic one without
    diacritics (some reference texts of other languages lack accents)."""
    import jiwer
    from whisper_normalizer.basic import BasicTextNormalizer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer() if english else BasicTextNormalizer(remove_diacritics=True)
    return float(jiwer.wer([normalize(r) for r in references], [normalize(h) for h in hypotheses]))
