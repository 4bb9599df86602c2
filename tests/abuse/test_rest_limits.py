"""REST body limits over real sockets: a 50 MB body is refused with 413 (the shared error
body) while the client is still sending it, with or without ``Content-Length``, and the
server serves everyone else meanwhile. Uploads keep their own, larger limit."""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from parley.testing.server import ServerProcess

pytestmark = pytest.mark.integration

LIMIT = 1024 * 1024  # PARLEY_LIMITS__MAX_BODY_BYTES's default
FIFTY_MB = 50 * 1024 * 1024
PIECE = 64 * 1024
TOO_LARGE = f"the request body is larger than this endpoint's limit of {LIMIT} bytes"


def open_request(server: ServerProcess, path: str, headers: str) -> socket.socket:
    """A connection with a POST's head sent (its body is up to the caller)."""
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {server.admin_key}\r\nContent-Type: application/json\r\n"
    )
    sock.sendall((head + headers + "\r\n").encode())
    return sock


def send_until_answered(sock: socket.socket, pieces: Iterator[bytes]) -> int:
    """Send ``pieces`` until the server answers (or closes); the bytes sent by then."""
    sent = 0
    for piece in pieces:
        if select.select([sock], [], [], 0)[0]:
            break
        try:
            sock.sendall(piece)
        except OSError:  # closed: the answer is already waiting
            break
        sent += len(piece)
    return sent


def read_answer(sock: socket.socket) -> tuple[str, dict[str, str], Any]:
    """The status line, headers and JSON body of the response."""
    sock.settimeout(10)
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if found and length and len(body) >= int(length[1]):
            break
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a whole response: {data!r}"
        data += chunk
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status, headers, json.loads(body)


def assert_too_large(body: Any) -> None:
    assert body == {
        "error": {
            "type": "validation_error",
            "code": "validation_error",
            "message": TOO_LARGE,
            "param": None,
        }
    }


def test_a_declared_50_mb_body_is_refused_before_it_is_sent(server: ServerProcess) -> None:
    with open_request(server, "/v1/agents", f"Content-Length: {FIFTY_MB}\r\n") as sock:
        start = time.monotonic()
        sent = send_until_answered(sock, (b" " * PIECE for _ in range(FIFTY_MB // PIECE)))
        status, headers, body = read_answer(sock)
    assert status.startswith("HTTP/1.1 413"), status
    assert headers["connection"] == "close" and headers["content-type"] == "application/json"
    assert_too_large(body)
    assert sent < FIFTY_MB // 2, f"{sent} bytes went out before the answer"
    assert time.monotonic() - start < 5


def test_a_chunked_body_is_refused_once_past_the_limit(server: ServerProcess) -> None:
    chunk = b"%x\r\n%s\r\n" % (PIECE, b" " * PIECE)
    with open_request(server, "/v1/agents", "Transfer-Encoding: chunked\r\n") as sock:
        sent = send_until_answered(sock, (chunk for _ in range(FIFTY_MB // PIECE)))
        status, _, body = read_answer(sock)
    assert status.startswith("HTTP/1.1 413"), status
    assert_too_large(body)
    assert LIMIT < sent < FIFTY_MB // 2, sent


def test_httpx_streaming_50_mb_gets_the_413(server: ServerProcess) -> None:
    """A client that streams a body (no Content-Length) reads the early answer."""
    pieces = (b" " * PIECE for _ in range(FIFTY_MB // PIECE))
    response = httpx.post(
        f"{server.url}/v1/agents",
        content=pieces,
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=30,
    )
    assert response.status_code == 413
    assert_too_large(response.json())


def test_others_are_served_while_a_big_body_is_refused(server: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    with open_request(server, "/v1/agents", "Transfer-Encoding: chunked\r\n") as sock:
        sock.sendall(b"%x\r\n%s\r\n" % (LIMIT // 2, b" " * (LIMIT // 2)))  # half, and wait
        assert httpx.get(f"{server.url}/v1/agents", headers=auth).status_code == 200
        sock.sendall(b"%x\r\n%s\r\n" % (LIMIT, b" " * LIMIT))
        status, _, _ = read_answer(sock)
    assert status.startswith("HTTP/1.1 413")
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    crashes = [
        r for r in server.log_records()
        if r["msg"].startswith("Exception in ASGI") or r["msg"] == "unhandled error"
    ]  # fmt: skip
    assert crashes == []  # a refused body is not an error of the server's


def test_a_body_within_the_limit_is_read(server: ServerProcess) -> None:
    """Just under 1 MiB reaches the route (which refuses the long prompt with 422)."""
    body = {"name": "big", "system_prompt": "x" * (LIMIT - 100)}
    response = httpx.post(
        f"{server.url}/v1/agents",
        json=body,
        headers={"Authorization": f"Bearer {server.admin_key}"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "system_prompt"


def test_uploads_keep_their_larger_limit(server: ServerProcess) -> None:
    """A 2 MiB transcription upload is read (and refused as not audio, not as too large);
    26 MiB is over the upload's 25 MiB."""
    noise = bytes(range(256)) * (2 * LIMIT // 256)
    response = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        data={"model": "whisper-1"},
        files={"file": ("a.wav", noise)},
        timeout=60,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "file"
    big = 26 * LIMIT
    path = "/v1/audio/transcriptions"
    with open_request(server, path, f"Content-Length: {big}\r\n") as sock:
        status, _, body = read_answer(sock)
    assert status.startswith("HTTP/1.1 413"), status
    assert str(25 * LIMIT) in body["error"]["message"]
