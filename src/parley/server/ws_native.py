"""Native WebSocket protocol endpoint: moves frames between the socket and a VoiceSession."""

from __future__ import annotations

import logging

import pydantic
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict

from parley.core.events import ErrorOut
from parley.core.turns import TurnDetectionMode
from parley.errors import ParleyError
from parley.protocols.json_frames import first_error
from parley.protocols.native import NativeCodec
from parley.server.admission import new_resume_token, open_session, opening, resume_session
from parley.server.agent_fields import EndOfTurnSilence, InterruptThreshold, VadThreshold
from parley.server.auth import credential
from parley.server.conversation import LiveConversation
from parley.server.session_config import agent_config
from parley.server.socket_pump import (
    connection_guard,
    decoded,
    peer_host,
    pump,
    refuse,
    refused_before_upgrade,
    text_transport,
)
from parley.server.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter()


class TurnOverrides(BaseModel):
    """Turn settings a single conversation may set in its URL's query string."""

    model_config = ConfigDict(extra="ignore")

    vad_threshold: VadThreshold | None = None
    end_of_turn_silence_ms: EndOfTurnSilence | None = None
    interrupt_threshold: InterruptThreshold | None = None
    turn_detection: TurnDetectionMode | None = None


def turn_overrides(ws: WebSocket) -> dict[str, float | str]:
    """``?vad_threshold=&end_of_turn_silence_ms=&interrupt_threshold=&turn_detection=``
    of this socket."""
    try:
        parsed = TurnOverrides.model_validate(dict(ws.query_params))
    except pydantic.ValidationError as exc:
        raise first_error(exc) from None
    return {
        k: v if isinstance(v, str) else float(v)
        for k, v in parsed.model_dump(exclude_none=True).items()
    }


@router.websocket("/v1/voice/conversation")
async def conversation(ws: WebSocket) -> None:
    """``/v1/voice/conversation?api_key=...&agent_id=...``, or ``?resume_token=...`` to
    continue a conversation whose connection dropped (see docs/protocol.md)."""
    state: ServerState = ws.app.state.parley
    limits = state.settings.limits
    codec = NativeCodec(
        max_frame_bytes=limits.max_frame_bytes, max_text_chars=limits.max_text_chars
    )
    if await refused_before_upgrade(ws, state, lambda: credential(ws.query_params, ws.headers)):
        return
    await ws.accept()
    peer = peer_host(ws)
    conn = text_transport(ws, lambda event: [codec.encode(event)])
    resume = ws.query_params.get("resume_token")
    try:
        overrides = turn_overrides(ws)  # before a single-use token is spent
        previous: str | None = None
        if resume:
            resumed = await resume_session(state, resume, peer=peer)
            agent, record, token = resumed.agent, resumed.record, resumed.resume_token
            previous = resumed.previous_holder
        else:
            agent, record = await open_session(
                state,
                token=ws.query_params.get("token"),
                api_key=credential(ws.query_params, ws.headers),
                agent_id=ws.query_params.get("agent_id"),
                peer=peer,
            )
            token = new_resume_token()
        async with opening(state, record.id):  # a failure here frees its slot
            config = agent_config(
                agent, state, first_message=record.initial_message, overrides=overrides,
                session=record,
            )  # fmt: skip
            await state.replica.released(record.id, previous)
            live = await LiveConversation.open(
                state, agent, record, conn, config=config, peer=peer, resume_token=token,
                resumed=bool(resume),
            )  # fmt: skip
        if resume:
            state.metrics.resumes.labels("resumed").inc()
    except ParleyError as exc:
        state.metrics.observe(ErrorOut(exc.code, exc.message))
        await conn.deliver(ErrorOut(exc.code, exc.message))
        await refuse(ws, conn, exc)
        return

    quiet = f"nothing received from the client for {limits.client_timeout_s:g} s"
    guard = connection_guard(ws, state, "native")
    await live.run(
        lambda: pump(ws, live, decoded(live, lambda f: [codec.decode(f)], guard), guard=guard,
                     quiet_s=limits.client_timeout_s, quiet=quiet)
    )  # fmt: skip
