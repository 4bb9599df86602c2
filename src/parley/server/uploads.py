"""Request bodies with a size limit (413 before the body is read), and a small
``multipart/form-data`` parser (no python-multipart dependency)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

from fastapi import HTTPException, Request
from starlette.types import Message as AsgiMessage

from parley.errors import ValidationError

MAX_FORM_PARTS = 64


def limit_body(request: Request, max_bytes: int) -> Request:
    """``request``, refusing with 413 a body over ``max_bytes``: at once when its
    Content-Length says so, otherwise as soon as the streamed body passes the limit."""
    too_large = HTTPException(413, f"the request body is larger than {max_bytes} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large
    received = 0

    async def receive() -> AsgiMessage:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise too_large
        return message

    return Request(request.scope, receive)


@dataclass(frozen=True, slots=True)
class FormPart:
    """One field of a ``multipart/form-data`` body."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def text(self) -> str:
        """The value as UTF-8 text (422 when it is not)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{self.name}: not UTF-8 text", param=self.name) from None


def _header(value: str) -> tuple[str, dict[str, str]]:
    """A header's value and its parameters (quoted, RFC 2231), parsed by :mod:`email`."""
    message = Message()
    message["content-type"] = value
    params: dict[str, str] = {}
    for key, raw in message.get_params(header="content-type", failobj=[])[1:]:
        params.setdefault(key.lower(), collapse_rfc2231_value(raw))
    return message.get_content_type(), params


def _part(raw: bytes) -> FormPart | None:
    head, sep, data = raw.partition(b"\r\n\r\n")
    if not sep:
        if not raw.startswith(b"\r\n"):
            raise ValidationError("malformed multipart body: a part has no header end")
        head, data = b"", raw[2:]
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    _, disposition = _header(headers.get("content-disposition", ""))
    name = disposition.get("name")
    if not name:
        return None  # unnamed parts carry no field
    return FormPart(name, data, disposition.get("filename"), headers.get("content-type"))


def parse_form(body: bytes, content_type: str | None) -> dict[str, FormPart]:
    """The named parts of a ``multipart/form-data`` body (the first of each name);
    422 :class:`ValidationError` when it is not one."""
    kind, params = _header(content_type or "")
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise ValidationError("the body must be multipart/form-data with a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1", "replace")
    body = b"\r\n" + body  # the first delimiter may start the body
    pos = body.find(delimiter)
    parts: dict[str, FormPart] = {}
    for _ in range(MAX_FORM_PARTS + 1):
        if pos < 0:
            raise ValidationError("malformed multipart body: no boundary")
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            return parts
        start = body.find(b"\r\n", pos) + 2
        end = body.find(delimiter, start)
        if start < 2 or end < 0:
            raise ValidationError("malformed multipart body: a part is not closed")
        part = _part(body[start:end])
        if part is not None:
            parts.setdefault(part.name, part)
        pos = end
    raise ValidationError(f"the form has more than {MAX_FORM_PARTS} parts")
