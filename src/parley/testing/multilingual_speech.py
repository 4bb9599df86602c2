"""Non-English speech with reference transcripts, for tests and ``parley bench languages``.

Real speech comes from Debian's ``asterisk-core-sounds-<lang>-wav`` packages: telephone
prompts read by professional voice actors (es: Allison Smith, Mexican Spanish; fr: June
Wallack, Canadian French; it: Carlo Flora; ru: IvrvoiceRU; CC-BY-SA-3.0), 8 kHz mono WAV,
with every prompt's text in ``asterisk-core-sounds-<lang>`` (``core-sounds-<lang>.txt``).
They are read where the packages are installed (``apt-get install
asterisk-core-sounds-es-wav asterisk-core-sounds-es ...``), or fetched with ``apt-get
download`` into a cache directory on first use.

No registry package was found with real German, Amharic, Somali, Tigrinya or Oromo speech
and transcripts. German, Amharic and Oromo clips are therefore SYNTHETIC: eSpeak NG reads
sentences written for these tests, and every such clip has ``synthetic=True``. eSpeak NG
has no Somali or Tigrinya voice, so those languages have no clips at all.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from parley.audio.wav import read_wav

DEBIAN_VOICES = {
    "es": "es_MX_f_Allison",
    "fr": "fr_CA_f_June",
    "it": "it_IT_m_Carlo",
    "ru": "ru_RU_f_IvrvoiceRU",
}
"""Languages with real speech: code → the voice folder of its Asterisk sound package."""

SYNTHETIC_SENTENCES: dict[str, tuple[str, ...]] = {
    "de": (
        "Guten Morgen, ich möchte einen Termin für nächste Woche vereinbaren.",
        "Können Sie mir bitte sagen, wann der Zug nach Hamburg abfährt?",
        "Meine Bestellung ist leider noch nicht angekommen.",
        "Das Wetter ist heute sehr schön und warm.",
        "Ich habe meinen Schlüssel im Büro vergessen.",
        "Wir treffen uns am Freitag vor dem Bahnhof.",
        "Bitte rufen Sie mich morgen Nachmittag zurück.",
        "Der Kaffee in diesem kleinen Laden schmeckt wirklich gut.",
    ),
    "am": (
        "ሰላም ነው እንዴት ነህ",
        "ስሜ አበበ ነው",
        "ዛሬ አየሩ ጥሩ ነው",
        "ቡና መጠጣት እፈልጋለሁ",
    ),
    "om": (
        "Akkam jirta",
        "Maqaan koo Caalaa jedhama",
        "Har'a qilleensi gaarii dha",
        "Bishaan dhuguu barbaada",
    ),
}
"""Languages with synthetic speech only: sentences written for these tests."""

ESPEAK_VOICES = {"de": "de", "am": "am", "om": "om"}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SpeechClip:
    """One utterance: PCM16 16 kHz mono audio, what is said, and in which language."""

    name: str
    language: str
    text: str
    pcm: bytes
    synthetic: bool
    """True when a speech synthesiser made the audio (never a person)."""
    source: str


def _default_cache() -> Path:
    base = os.environ.get("PARLEY_TEST_AUDIO_DIR")
    root = (
        Path(base)
        if base
        else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "parley"
    )
    return root / "multilingual"


def _packages(language: str) -> tuple[str, str]:
    return f"asterisk-core-sounds-{language}", f"asterisk-core-sounds-{language}-wav"


def _fetch_debian(language: str, cache: Path) -> Path:
    """The root a package tree was unpacked into: ``/`` when installed, else the cache."""
    texts, wavs = _packages(language)
    if (Path("/usr/share/doc") / texts).is_dir() and (
        Path("/usr/share/asterisk/sounds") / DEBIAN_VOICES[language]
    ).is_dir():
        return Path("/")
    root = cache / f"debian-{language}"
    if (root / "usr/share/asterisk/sounds" / DEBIAN_VOICES[language]).is_dir():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["apt-get", "download", texts, wavs], cwd=tmp, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"could not fetch the Debian packages {texts} and {wavs} (install them: "
                f"apt-get install {texts} {wavs}): {done.stderr.strip()}"
            )
        unpacked = Path(tmp) / "root"
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.move(str(unpacked), root)
    return root


def _prompt_texts(root: Path, language: str) -> dict[str, str]:
    """Prompt name → its text, for prompts fit to score: plain sentences of 4+ words
    (no "[tone]" notes and no digits, which the speaker says as words)."""
    texts, _ = _packages(language)
    listing = root / "usr/share/doc" / texts / f"core-sounds-{language}.txt.gz"
    found: dict[str, str] = {}
    for line in gzip.decompress(listing.read_bytes()).decode("utf-8").splitlines():
        name, sep, text = line.partition(":")
        text = text.strip().strip('"').strip(".… ").strip()
        if not sep or line.startswith(";") or "/" in name or re.search(r"[\[\]()\d:]", text):
            continue
        if len(text.split()) >= 4:
            found[name.strip()] = text
    return found


def _spread(items: list[T], count: int) -> list[T]:
    """``count`` items evenly spaced over the sorted list (deterministic)."""
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def real_clips(language: str, per_language: int = 8, cache: Path | None = None) -> list[SpeechClip]:
    """Up to ``per_language`` real recordings in ``language`` (a key of DEBIAN_VOICES),
    between 1 and 25 s long."""
    root = _fetch_debian(language, cache or _default_cache())
    folder = root / "usr/share/asterisk/sounds" / DEBIAN_VOICES[language]
    texts = _prompt_texts(root, language)
    names = sorted(n for n in texts if (folder / f"{n}.wav").is_file())
    clips: list[SpeechClip] = []
    for name in _spread(names, per_language * 2):
        pcm = read_wav(folder / f"{name}.wav")
        if 32_000 <= len(pcm) <= 25 * 32_000:
            clips.append(
                SpeechClip(
                    f"{language}/{name}",
                    language,
                    texts[name],
                    pcm,
                    synthetic=False,
                    source=f"Debian {_packages(language)[1]} ({DEBIAN_VOICES[language]})",
                )
            )
    return _spread(clips, per_language)


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is installed (Debian package espeak-ng)."""
    return shutil.which("espeak-ng") is not None


def synthetic_clips(language: str, per_language: int = 8) -> list[SpeechClip]:
    """Up to ``per_language`` clips that eSpeak NG speaks (SYNTHETIC, not real speech)."""
    if not espeak_available():
        raise RuntimeError("synthetic clips need eSpeak NG: apt-get install espeak-ng")
    clips: list[SpeechClip] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(SYNTHETIC_SENTENCES[language][:per_language]):
            path = Path(tmp) / f"{i}.wav"
            subprocess.run(
                ["espeak-ng", "-v", ESPEAK_VOICES[language], "-w", str(path), text],
                check=True,
                capture_output=True,
            )
            clips.append(
                SpeechClip(
                    f"{language}/synthetic-{i}",
                    language,
                    text,
                    read_wav(path),
                    synthetic=True,
                    source="SYNTHETIC: eSpeak NG (Debian espeak-ng)",
                )
            )
    return clips


def clips(
    languages: Iterable[str] | None = None, per_language: int = 8, cache: Path | None = None
) -> list[SpeechClip]:
    """Clips for each language: real where a package has real speech, else synthetic."""
    wanted = list(languages) if languages is not None else [*DEBIAN_VOICES, *SYNTHETIC_SENTENCES]
    found: list[SpeechClip] = []
    for language in wanted:
        if language in DEBIAN_VOICES:
            found += real_clips(language, per_language, cache)
        elif language in SYNTHETIC_SENTENCES:
            found += synthetic_clips(language, per_language)
        else:
            raise ValueError(f"no speech clips for language {language!r}")
    return found
