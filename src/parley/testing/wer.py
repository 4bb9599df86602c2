"""Word error rate after Whisper's English normalisation (needs the ``dev`` extra)."""

from __future__ import annotations


def normalized_wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER of ``hypotheses`` against ``references`` after normalising both."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    return float(jiwer.wer([normalize(r) for r in references], [normalize(h) for h in hypotheses]))
