"""The browser SDK files and the dashboard, as the real server serves them."""

from __future__ import annotations

import re

import httpx
import pytest

from parley.server.web import SDK_FILE
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/voice/sdk.js", "text/javascript"),
        ("/v1/voice/sdk.mjs", "text/javascript"),
        ("/v1/voice/sdk.d.ts", "application/typescript"),
    ],
)
def test_sdk_files_are_public_revalidated_and_answer_head(
    server: Server, path: str, content_type: str
) -> None:
    got = httpx.get(server.url + path)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith(content_type)
    assert got.headers["access-control-allow-origin"] == "*"  # no key needed, any origin
    assert got.headers["cache-control"] == "no-cache"
    head = httpx.head(server.url + path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))


def test_the_module_form_is_the_script_plus_exports(server: Server) -> None:
    script = SDK_FILE.read_text(encoding="utf-8")
    module = httpx.get(server.url + "/v1/voice/sdk.mjs").text
    assert module.startswith(script)
    assert "export default ParleyVoice;" in module[len(script) :]
    assert not re.search(r"^\s*export\b", script, re.M)  # a classic script has no export


def test_the_dashboard_is_served_at_the_root(server: Server) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>" in page.text
    assert "access-control-allow-origin" not in page.headers
