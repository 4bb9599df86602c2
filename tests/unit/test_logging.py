"""Secrets never reach the logs."""

from __future__ import annotations

import io
import json
import logging

import pytest

from parley.observability.logging import JsonFormatter, RedactSecrets, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '"WebSocket /v1/voice/conversation?api_key=sk_live_abc-_12&agent_id=a"',
            '"WebSocket /v1/voice/conversation?api_key=***&agent_id=a"',
        ),
        ("GET /x?token=tok_123 HTTP/1.1", "GET /x?token=*** HTTP/1.1"),
        ("key pk_live_XYZ leaked", "key *** leaked"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def _json_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger writing redacted JSON lines to the returned stream only."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_filter_redacts_formatted_messages_as_json() -> None:
    logger, stream = _json_logger("parley.test.redact")
    logger.warning("%s - %s", "client", "/v1/voice/conversation?api_key=sk_live_secret")
    logger.info("session started", extra={"session_id": "ses_1"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "client - /v1/voice/conversation?api_key=***"
    assert first["level"] == "warning" and "sk_live_secret" not in stream.getvalue()
    assert second["session_id"] == "ses_1"


def test_extras_are_redacted_and_terminal_colours_dropped() -> None:
    """uvicorn adds ``color_message`` (the message again, with ANSI codes) to some
    records; extra fields are cleaned of secrets like the message."""
    logger, stream = _json_logger("parley.test.extras")
    logger.info(
        "Uvicorn running on %s",
        "http://127.0.0.1:8000",
        extra={
            "color_message": "Uvicorn running on \x1b[1m%s\x1b[0m",
            "url": "ws://h/v1/realtime?api_key=sk_live_leak",
            "turns": 3,
        },
    )
    line = json.loads(stream.getvalue())
    assert "color_message" not in line
    assert line["url"] == "ws://h/v1/realtime?api_key=***" and line["turns"] == 3
    assert "sk_live_leak" not in stream.getvalue()
