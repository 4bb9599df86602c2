"""The operator's providers file: what it adds to the pool, and precise errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from parley.config import Settings
from parley.providers.catalog import ProvidersFileError
from parley.providers.pool import ProviderPool

GOOD = """
# the operator's models
[llm.big]
type = "openai"
base_url = "http://user:secret@127.0.0.1:8080/v1"
model = "qwen2.5-7b-instruct"
api_key_env = "PARLEY_TEST_BIG_KEY"
timeout_s = 15

[stt.remote]
type = "openai"
base_url = "http://127.0.0.1:9000/v1"
model = "whisper-1"

[tts.remote]
type = "openai"
base_url = "http://127.0.0.1:9000/v1"
model = "tts-1"
voices = ["en_US-joe-medium"]

[defaults]
llm = "llm:big"
"""


def _pool(tmp_path: Path, text: str) -> ProviderPool:
    path = tmp_path / "providers.toml"
    path.write_text(text)
    return ProviderPool.from_settings(Settings(data_dir=tmp_path, providers_file=path))


def test_file_providers_join_the_built_in_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_TEST_BIG_KEY", "sk-very-secret")
    pool = _pool(tmp_path, GOOD)
    assert pool.names("llm") == ["llm:big", "llm:llama-local"]
    assert pool.names("stt") == ["stt:remote", "stt:whisper-local", "stt:whisper-multilingual"]
    assert pool.defaults["llm"] == "llm:big" and pool.defaults["stt"] == "stt:whisper-local"
    big = next(i for i in pool.infos() if i.name == "llm:big")
    assert (big.type, big.model, big.local) == ("openai", "qwen2.5-7b-instruct", False)
    assert big.base_url == "http://127.0.0.1:8080/v1", "credentials in the URL are not shown"
    assert "secret" not in repr(pool.infos())
    tts = pool.get("tts:remote")
    assert [v.id for v in tts.voices()] == ["en_US-joe-medium"]
    assert tts.voices()[0].sample_rate == 24_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[llm.x]\ntype = 'openai'\n", "line 1 ([llm.x]): base_url: Field required"),
        (
            "\n[llm.x]\ntype = 'openai'\nmodel = 'm'\nbase_url = 'not a url'\n",
            "line 5 ([llm.x]): base_url: Input should be a valid URL",
        ),
        (
            "[stt.x]\ntype = 'openai'\nbase_url = 'http://h/v1'\nmodel = 'w'\nspeed = 2\n",
            "line 5 ([stt.x]): speed: Extra inputs are not permitted",
        ),
        ("[llm.x]\ntype = 'magic'\n", "line 1 ([llm.x]): type: Input tag 'magic'"),
        ("[vision.x]\ntype = 'magic'\n", "line 1 ([vision]): unknown kind 'vision'"),
        ("[search.x]\ntype = 'magic'\n", "line 2 ([search.x]): type: unknown search type 'magic'"),
        (
            "[llm.x]\ntype='openai'\nbase_url='http://h/v1'\nmodel='m'\napi_key_env='NOPE_9'\n",
            "line 5 ([llm.x]): api_key_env: the environment variable NOPE_9 is not set",
        ),
        ("[llm.x\n", "not valid TOML"),
        ("[defaults]\nllm = 'llm:nope'\n", "unknown provider 'llm:nope'"),
        (
            "[llm.llama-local]\ntype='openai'\nbase_url='http://h/v1'\nmodel='m'\n",
            "llm:llama-local is built in",
        ),
        ("[tts.x]\ntype='openai'\nbase_url='http://h/v1'\nmodel='m'\n", "voices: Field required"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ProvidersFileError, match=r"providers file .*providers\.toml") as raised:
        _pool(tmp_path, text)
    assert message in str(raised.value)


def test_parley_serve_stops_at_start_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text("[llm.big]\ntype = 'openai'\nmodel = 'm'\n")
    done = subprocess.run(
        [sys.executable, "-m", "parley.cli", "serve", "--port", "1", "--providers", str(path),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "line 1 ([llm.big]): base_url: Field required" in done.stderr
