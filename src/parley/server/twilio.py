"""Phone calls through Twilio (docs/twilio.md): the voice webhook that answers a call with
TwiML, and the Media Streams WebSocket the call's audio then flows over."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from parley.core.events import ErrorOut, ServerEvent
from parley.errors import (
    AuthenticationError,
    ModelsNotReadyError,
    ParleyError,
    ValidationError,
)
from parley.protocols.twilio import (
    StartMessage,
    StreamStart,
    TwilioCodec,
    connect_stream_twiml,
    signature_valid,
)
from parley.server.admission import open_session
from parley.server.auth import authenticate, bearer_token, check_rate
from parley.server.conversation import LiveConversation
from parley.server.errors import error_body
from parley.server.sessions import create_token_session, websocket_base
from parley.server.socket_pump import (
    connection_guard,
    decoded,
    peer_host,
    pump,
    refuse,
    text_transport,
)
from parley.server.state import ServerState
from parley.single_line import line_problem
from parley.storage import ApiKeyRecord

log = logging.getLogger(__name__)
router = APIRouter(tags=["twilio"])

MEDIA_PATH = "/v1/twilio/media"
MAX_WEBHOOK_BYTES = 64 * 1024
_CALL_FIELDS = {"CallSid": "call_sid", "From": "from", "To": "to", "Direction": "direction"}
"""Webhook form fields kept in the session's metadata."""


# ---------------------------------------------------------------- webhook


def webhook_url(state: ServerState, request: Request) -> str:
    """The URL Twilio requested (what it signed): under ``public_url`` when one is set."""
    if not state.settings.public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return state.settings.public_url.rstrip("/") + request.url.path + query


def basic_password(authorization: str | None) -> str | None:
    """The password of an ``Authorization: Basic ...`` header."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("malformed Basic Authorization header") from None
    password = decoded.partition(":")[2]
    return password or None


async def _webhook_caller(
    state: ServerState, request: Request, params: list[tuple[str, str]]
) -> ApiKeyRecord | None:
    """Check who calls the webhook: Twilio's signature when an auth token is configured,
    otherwise a Parley API key (Bearer, or Basic with the key as password)."""
    auth_token = state.settings.twilio.auth_token
    if auth_token:
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            raise AuthenticationError("missing X-Twilio-Signature header")
        if not signature_valid(auth_token, webhook_url(state, request), params, signature):
            raise AuthenticationError(
                "invalid X-Twilio-Signature (is the public URL Twilio calls the one Parley "
                "sees? set PARLEY_PUBLIC_URL behind a proxy or tunnel)"
            )
        return None
    header = request.headers.get("authorization")
    key = bearer_token(header) or basic_password(header)
    if header and key is None:
        raise AuthenticationError("malformed Authorization header: use Bearer or Basic")
    record = await authenticate(state, key)
    await check_rate(state, record)
    return record


def _unauthorized(exc: AuthenticationError, *, basic: bool) -> JSONResponse:
    response = JSONResponse(error_body(exc.code, exc.message, exc.param), 401)
    if basic:  # Twilio sends URL credentials only after a Basic challenge with a realm
        response.headers.append("WWW-Authenticate", 'Basic realm="Parley"')
    response.headers.append("WWW-Authenticate", "Bearer")
    return response


async def _form(request: Request) -> tuple[list[tuple[str, str]], str | None]:
    """The webhook's POST parameters (``application/x-www-form-urlencoded``), and what is
    wrong with the body if it is not such a form (reported once the caller is known)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            raise ValidationError(f"webhook body larger than {MAX_WEBHOOK_BYTES} bytes")
    if not body:
        return [], None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return [], f"expected application/x-www-form-urlencoded, got {content_type or 'no type'}"
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True), None
    except (UnicodeDecodeError, ValueError):
        return [], "the webhook body is not valid form data"


@router.post("/v1/twilio/voice", include_in_schema=False)
async def voice_webhook(
    request: Request,
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Twilio's voice webhook: answer the call with TwiML that streams it to ``agent_id``.

    The stream gets a single-use token that expires after ``twilio.stream_token_ttl_s``.
    """
    state: ServerState = request.app.state.parley
    params, bad_body = await _form(request)
    try:
        key = await _webhook_caller(state, request, params)
    except AuthenticationError as exc:
        log.warning("twilio webhook refused", extra={"reason": exc.message})
        return _unauthorized(exc, basic=not state.settings.twilio.auth_token)
    if bad_body:
        raise ValidationError(bad_body)
    if not agent_id:
        raise ValidationError(
            "missing agent_id: call /v1/twilio/voice?agent_id=...", param="agent_id"
        )
    if not state.models_ready.is_set():
        raise ModelsNotReadyError("the server is still loading its models; retry shortly")

    form = dict(params)
    metadata = {"protocol": "twilio"} | {
        name: form[field][:128]
        for field, name in _CALL_FIELDS.items()
        if form.get(field) and line_problem(form[field]) is None  # no control or bidi chars
    }
    ttl = state.settings.twilio.stream_token_ttl_s
    record, token = await create_token_session(state, key, agent_id, metadata, ttl)
    log.info(
        "twilio call answered",
        extra={"session_id": record.id, "agent_id": agent_id, "call_sid": metadata.get("call_sid")},
    )
    twiml = connect_stream_twiml(
        websocket_base(state, request) + MEDIA_PATH, {"agent_id": agent_id, "token": token}
    )
    return Response(twiml, media_type="text/xml")


# ---------------------------------------------------------------- media stream


def _logged_errors(codec: TwilioCodec, session: list[str]) -> Callable[[ServerEvent], list[str]]:
    """The codec's messages for an event; Twilio has no error message, so errors are
    logged (with the session id, once known)."""

    def encode(event: ServerEvent) -> list[str]:
        if isinstance(event, ErrorOut):
            log.warning(
                "twilio stream error",
                extra={"session_id": session[0] if session else None, "code": event.code,
                       "reason": event.message},
            )  # fmt: skip
        return list(codec.encode(event))

    return encode


async def _receive_frame(ws: WebSocket, timeout_s: float) -> str | bytes | None:
    """The next frame, or None when the peer left or stayed silent ``timeout_s``."""
    try:
        message = await asyncio.wait_for(ws.receive(), timeout_s)
    except (TimeoutError, WebSocketDisconnect, RuntimeError):
        return None
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def _await_start(ws: WebSocket, codec: TwilioCodec, timeout_s: float) -> StreamStart:
    """Read ``connected`` and ``start``; anything else first is refused."""
    while True:
        frame = await _receive_frame(ws, timeout_s)
        if frame is None:
            raise ValidationError("no start message: the stream ended or stayed silent")
        msg = codec.parse(frame)
        if isinstance(msg, StartMessage):
            return codec.begin(msg)
        if msg.event != "connected":
            raise ValidationError(f"expected start, got {msg.event}", param="event")


@router.websocket(MEDIA_PATH)
async def media_stream(ws: WebSocket) -> None:
    """Twilio Media Streams (bidirectional). Authenticated by the ``start`` message's
    custom parameters: ``token`` (from the webhook) or ``api_key`` with ``agent_id``."""
    state: ServerState = ws.app.state.parley
    limits = state.settings.limits
    codec = TwilioCodec(max_frame_bytes=limits.max_frame_bytes)
    await ws.accept()
    peer = peer_host(ws)
    session: list[str] = []
    stream = text_transport(ws, _logged_errors(codec, session))
    try:
        start = await _await_start(ws, codec, limits.client_timeout_s)
        params = start.parameters
        if not params.get("token") and not params.get("api_key"):
            raise AuthenticationError("missing token or api_key custom parameter")
        agent, record = await open_session(
            state,
            token=params.get("token"),
            api_key=params.get("api_key"),
            agent_id=params.get("agent_id"),
            protocol="twilio",
            metadata={"call_sid": start.call_sid, "stream_sid": start.stream_sid},
            peer=peer,
        )
        live = await LiveConversation.open(state, agent, record, stream, peer=peer)
    except ParleyError as exc:
        state.metrics.observe(ErrorOut(exc.code, exc.message))
        log.warning(
            "twilio stream refused",
            extra={"code": exc.code, "reason": exc.message, "close_code": exc.ws_close_code},
        )
        await refuse(ws, stream, exc)
        return

    session.append(record.id)
    quiet = f"nothing received from Twilio for {limits.client_timeout_s:g} s"
    guard = connection_guard(ws, state, "twilio")
    await live.run(
        lambda: pump(ws, live, decoded(live, codec.decode, guard), guard=guard,
                     quiet_s=limits.client_timeout_s, quiet=quiet)
    )  # fmt: skip
