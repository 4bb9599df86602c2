"""Phone calls through Twilio Media Streams, against the real server and models.

A replay client plays Twilio's part: it posts the voice webhook (signed, or with an API
key), follows the TwiML to the media stream, streams recorded speech as 20 ms μ-law
frames in real time, plays the agent's audio on a simulated 8 kHz clock and echoes each
mark once the audio before it has been played (and at once on ``clear``), as Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import soxr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from parley.audio.g711 import pcm16_to_mulaw
from parley.audio.wav import read_wav
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess, start_server
from parley.testing.wer import normalized_wer
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

AUTH_TOKEN = "test-only-twilio-auth-token"
FRAME = 160  # 20 ms of μ-law at 8 kHz
SILENCE = b"\xff" * FRAME


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that checks Twilio's webhook signature (an auth token is configured)."""
    srv = start_server(
        tmp_path_factory.mktemp("twilio") / "data",
        env={"PARLEY_TWILIO__AUTH_TOKEN": AUTH_TOKEN},
    )
    yield srv
    srv.stop()


def twilio_signature(token: str, url: str, form: dict[str, str]) -> str:
    """Computed here from Twilio's documented recipe, independently of the server."""
    data = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def call_form(call_sid: str) -> dict[str, str]:
    """What Twilio posts to a voice webhook (the fields that matter here)."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "From": "+15005550006",
        "To": "+15005550001",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


def parse_twiml(body: str) -> tuple[str, dict[str, str]]:
    """The stream URL and custom parameters of ``<Connect><Stream>`` TwiML."""
    root = ET.fromstring(body)
    assert root.tag == "Response"
    stream = root.find("./Connect/Stream")
    assert stream is not None, body
    url = stream.get("url")
    assert url is not None
    return url, {str(p.get("name")): str(p.get("value")) for p in stream.findall("Parameter")}


def to_mulaw(pcm16k: bytes) -> bytes:
    """16 kHz PCM16 → 8 kHz μ-law, as the phone network carries it."""
    samples = soxr.resample(np.frombuffer(pcm16k, dtype="<i2"), 16000, 8000, quality="HQ")
    return pcm16_to_mulaw(np.asarray(samples, dtype="<i2").tobytes())


def start_message(stream_sid: str, call_sid: str, parameters: dict[str, str]) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": stream_sid,
        }
    )


@dataclass
class _Audio:
    left: int


class TwilioReplay:
    """Twilio's side of one media stream (see the module docstring)."""

    def __init__(self, ws: ClientConnection, stream_sid: str, call_sid: str) -> None:
        self.ws, self.stream_sid, self.call_sid = ws, stream_sid, call_sid
        self.received: list[dict[str, Any]] = []
        self.played_ms: dict[str, int] = {}
        """Agent audio played per turn (attributed by the mark that follows it)."""
        self.echoed: list[str] = []
        """Marks echoed after their audio was played (not the ones handed back on clear)."""
        self.clears: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self._playout: deque[_Audio | str] = deque()
        self._unattributed = 0
        self._caller = bytearray()
        self._send_now: list[str | bytes] = []
        self._seq = 1
        self._tasks: list[asyncio.Task[None]] = []

    def _message(self, event: str, **body: Any) -> str:
        self._seq += 1
        return json.dumps(
            {"event": event, "sequenceNumber": str(self._seq), "streamSid": self.stream_sid, **body}
        )

    async def begin(self, parameters: dict[str, str]) -> None:
        await self.ws.send(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        await self.ws.send(start_message(self.stream_sid, self.call_sid, parameters))
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._clock())]

    async def stop(self) -> None:
        self._send_now.append(self._message("stop", stop={"callSid": self.call_sid}))

    def send_raw(self, frame: str | bytes) -> None:
        """Queue any frame (malformed ones too) for the next tick."""
        self._send_now.append(frame)

    def dtmf(self, digits: str) -> None:
        for digit in digits:
            self._send_now.append(
                self._message("dtmf", dtmf={"track": "inbound_track", "digit": digit})
            )

    async def say(self, pcm16k: bytes) -> None:
        """Speak into the phone (real time); returns once all of it has been sent."""
        self._caller += to_mulaw(pcm16k)
        await self.until(lambda: not self._caller, timeout=len(pcm16k) / 32000 + 30)

    async def until(self, predicate: Callable[[], Any], timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            if self.closed.is_set():
                raise AssertionError("the server closed the stream")
            await asyncio.sleep(0.02)
        kinds = [m["event"] for m in self.received[-10:]]
        raise AssertionError(f"timed out; played {self.played_ms}, last received {kinds}")

    def ended_turns(self) -> list[str]:
        """Agent turns whose audio has been played to the end."""
        return [name.split(":")[0] for name in self.echoed if ":end:" in name]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.ws.close()

    @staticmethod
    def _turn(mark: str) -> str:
        return mark.split(":")[0]

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self.received.append(msg)
                assert msg["streamSid"] == self.stream_sid
                if msg["event"] == "media":
                    audio = base64.b64decode(msg["media"]["payload"])
                    assert len(audio) == FRAME
                    self._playout.append(_Audio(len(audio)))
                elif msg["event"] == "mark":
                    self._playout.append(msg["mark"]["name"])
                elif msg["event"] == "clear":
                    self._clear(msg)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def _clear(self, msg: dict[str, Any]) -> None:
        """Drop the queued audio; hand back the queued marks at once (unplayed)."""
        marks = [item for item in self._playout if isinstance(item, str)]
        if marks:
            turn = self._turn(marks[0])
            self.played_ms[turn] = self.played_ms.get(turn, 0) + self._unattributed // 8
        self._unattributed = 0
        self.clears.append(
            {"index": len(self.received) - 1, "played_ms": dict(self.played_ms), "marks": marks}
        )
        self._playout.clear()
        self._send_now += [self._message("mark", mark={"name": name}) for name in marks]

    async def _clock(self) -> None:
        """Every 20 ms: send one frame of the caller's audio, play 20 ms of the agent's."""
        t0, tick = time.monotonic(), 0
        while not self.closed.is_set():
            outgoing, self._send_now = self._send_now, []
            frame = bytes(self._caller[:FRAME]).ljust(FRAME, b"\xff") if self._caller else SILENCE
            del self._caller[:FRAME]
            payload = base64.b64encode(frame).decode()
            track = {"track": "inbound", "chunk": str(tick + 1), "timestamp": str(tick * 20)}
            outgoing.append(self._message("media", media={**track, "payload": payload}))
            budget = FRAME
            while self._playout and (isinstance(self._playout[0], str) or budget > 0):
                item = self._playout[0]
                if isinstance(item, str):  # everything before it has been played
                    self._playout.popleft()
                    turn = self._turn(item)
                    self.played_ms[turn] = self.played_ms.get(turn, 0) + self._unattributed // 8
                    self._unattributed = 0
                    self.echoed.append(item)
                    outgoing.append(self._message("mark", mark={"name": item}))
                    continue
                take = min(budget, item.left)
                item.left -= take
                budget -= take
                self._unattributed += take
                if item.left == 0:
                    self._playout.popleft()
            try:
                for message in outgoing:
                    await self.ws.send(message)
            except ConnectionClosed:
                return
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick * 0.02 - time.monotonic()))


@asynccontextmanager
async def phone_call(
    stream_url: str, parameters: dict[str, str], call_sid: str
) -> AsyncIterator[TwilioReplay]:
    async with connect(stream_url, max_size=None) as ws:
        replay = TwilioReplay(ws, "MZ" + call_sid[2:], call_sid)
        await replay.begin(parameters)
        try:
            yield replay
        finally:
            await replay.close()


async def refused(
    stream_url: str, parameters: dict[str, str], *, before: str = ""
) -> tuple[int, str]:
    """Open a stream that should be refused: its close code and reason."""
    async with connect(stream_url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(before or start_message("MZ1", "CA1", parameters))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def session_of_call(srv: ServerProcess, call_sid: str) -> dict[str, Any]:
    """The stored session of a call, with its transcript (REST API)."""
    headers = {"Authorization": f"Bearer {srv.admin_key}"}
    async with httpx.AsyncClient(base_url=srv.url, headers=headers) as http:
        listed = await http.get("/v1/agents/agt_demo/sessions", params={"limit": 100})
        assert listed.status_code == 200, listed.text
        (found,) = [s for s in listed.json()["data"] if s["metadata"].get("call_sid") == call_sid]
        detail = await http.get(f"/v1/sessions/{found['session_id']}")
        assert detail.status_code == 200, detail.text
        return dict(detail.json())


# ---------------------------------------------------------------- the webhook


async def test_webhook_needs_an_api_key_when_no_auth_token_is_set(server: Server) -> None:
    url = f"{server.url}/v1/twilio/voice?agent_id=agt_demo"
    form = call_form("CA" + "1" * 32)
    async with httpx.AsyncClient() as http:
        bare = await http.post(url, data=form)
        assert bare.status_code == 401
        assert bare.json()["error"]["code"] == "authentication_error"
        assert set(bare.json()["error"]) == {"type", "code", "message", "param"}
        # Twilio sends the credentials of a URL only after a Basic challenge with a realm
        assert 'Basic realm="Parley"' in bare.headers.get_list("www-authenticate")
        wrong = await http.post(url, data=form, auth=("twilio", "sk_live_not-a-key"))
        assert wrong.status_code == 401

        bearer = await http.post(
            url, data=form, headers={"Authorization": f"Bearer {server.admin_key}"}
        )
        basic = await http.post(url, data=form, auth=("twilio", server.admin_key))
        for response in (bearer, basic):
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/xml")
            stream_url, params = parse_twiml(response.text)
            assert stream_url == f"ws://{server.url.removeprefix('http://')}/v1/twilio/media"
            assert params["agent_id"] == "agt_demo" and params["token"].startswith("wst_")
        assert parse_twiml(bearer.text)[1]["token"] != parse_twiml(basic.text)[1]["token"]

        auth = {"Authorization": f"Bearer {server.admin_key}"}
        missing = await http.post(f"{server.url}/v1/twilio/voice", data=form, headers=auth)
        assert missing.status_code == 422 and missing.json()["error"]["param"] == "agent_id"
        unknown = await http.post(
            f"{server.url}/v1/twilio/voice?agent_id=agt_nope", data=form, headers=auth
        )
        assert unknown.status_code == 404
        body, as_json = b'{"CallSid": "CA1"}', {"content-type": "application/json"}
        assert (await http.post(url, content=body, headers=as_json)).status_code == 401
        not_form = await http.post(url, content=body, headers={**auth, **as_json})
        assert not_form.status_code == 422
        assert "application/x-www-form-urlencoded" in not_form.json()["error"]["message"]


async def test_refused_streams_are_logged_and_closed(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{server.url}/v1/twilio/voice?agent_id=agt_demo",
            data=call_form("CA" + "2" * 32),
            headers=auth,
        )
    stream_url, params = parse_twiml(answer.text)

    assert await refused(stream_url, {"agent_id": "agt_demo"}) == (
        4001,
        "missing token or api_key custom parameter",
    )
    assert await refused(stream_url, {"token": "wst_forged"}) == (4001, "invalid session token")
    assert (await refused(stream_url, {"api_key": "sk_live_wrong", "agent_id": "agt_demo"}))[
        0
    ] == 4001
    code, reason = await refused(
        stream_url, params, before=json.dumps({"event": "media", "media": {"payload": ""}})
    )
    assert (code, reason) == (4000, "expected start, got media")

    async with phone_call(stream_url, params, "CA" + "2" * 32) as call:
        await call.until(lambda: any(m["event"] == "media" for m in call.received))
        code, reason = await refused(stream_url, params)  # the token works once
        assert code == 4001 and "already used" in reason
        await call.stop()
        await call.closed.wait()

    records = [r for r in server.log_records() if r.get("msg") == "twilio stream refused"]
    assert {r["close_code"] for r in records} >= {4000, 4001}
    log = await asyncio.to_thread(server.log.read_text)
    assert params["token"] not in log  # secrets never in logs


async def test_a_stream_opened_with_an_api_key(server: Server) -> None:
    """``api_key`` + ``agent_id`` parameters (handy for local testing) open a session."""
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{server.url}/v1/twilio/voice?agent_id=agt_demo",
            data=call_form("CA" + "3" * 32),
            auth=("twilio", server.admin_key),
        )
    stream_url, _ = parse_twiml(answer.text)
    call_sid = "CA" + "4" * 32
    params = {"api_key": server.admin_key, "agent_id": "agt_demo"}
    async with phone_call(stream_url, params, call_sid) as call:
        await call.until(lambda: call.echoed)  # agent audio plays, marks come back
        await call.stop()
        await call.closed.wait()
    stored = await session_of_call(server, call_sid)
    assert stored["metadata"]["protocol"] == "twilio"
    assert stored["metadata"]["stream_sid"] == call.stream_sid
    assert stored["status"] == "ended" and stored["end_reason"] == "client"


# ---------------------------------------------------------------- a whole call


async def test_a_phone_call_with_barge_in_and_keypad_input(
    signed_server: ServerProcess, speech: dict[str, Recording]
) -> None:
    srv = signed_server
    call_sid = "CA" + "5" * 32
    url = f"{srv.url}/v1/twilio/voice?agent_id=agt_demo"
    form = call_form(call_sid)
    async with httpx.AsyncClient() as http:
        unsigned = await http.post(
            url, data=form, headers={"Authorization": f"Bearer {srv.admin_key}"}
        )
        assert unsigned.status_code == 401, "with an auth token set, an API key is not enough"
        assert "X-Twilio-Signature" in unsigned.json()["error"]["message"]
        forged = await http.post(
            url,
            data={**form, "From": "+15005559999"},
            headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, form)},
        )
        assert forged.status_code == 401
        answer = await http.post(
            url, data=form, headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, form)}
        )
    assert answer.status_code == 200, answer.text
    stream_url, params = parse_twiml(answer.text)

    question = read_wav(speech["librivox-0870"].path)
    interruption = read_wav(speech["librivox-0930"].path)
    async with phone_call(stream_url, params, call_sid) as call:
        # the greeting plays to the end
        (greeting,) = await call.until(call.ended_turns)
        await call.say(question)

        def answering() -> str | None:
            playing = [t for t, ms in call.played_ms.items() if t != greeting and ms >= 600]
            return playing[0] if playing else None

        answer_turn = await call.until(answering)
        await call.say(interruption)  # speak over the agent
        clear = (await call.until(lambda: call.clears))[0]
        reply = await call.until(lambda: [t for t in call.ended_turns() if t != greeting])
        assert answer_turn not in reply, "the interrupted answer never played to its end"
        after_clear = call.received[clear["index"] + 1 :]
        assert not [
            m
            for m in after_clear
            if m["event"] == "mark" and m["mark"]["name"].startswith(answer_turn + ":")
        ], "no audio of the interrupted turn after the clear"

        await call.say(bytes(16000))  # half a second of silence
        # malformed messages are logged and skipped; the call goes on
        call.send_raw("{not json")
        call.send_raw(json.dumps({"event": "hangup"}))
        call.send_raw(json.dumps({"event": "media", "media": {"payload": "!!"}}))
        call.send_raw(json.dumps({"event": "dtmf", "dtmf": {"digit": "x"}}))
        call.send_raw(b"\x00\x01")
        call.dtmf("123#")
        await call.until(lambda: len(call.ended_turns()) >= 3)
        await call.say(bytes(16000))
        await call.stop()
        await call.until(call.closed.is_set, timeout=15)

    stored = await session_of_call(srv, call_sid)
    assert stored["metadata"] == {
        "protocol": "twilio",
        "call_sid": call_sid,
        "from": form["From"],
        "to": form["To"],
        "direction": "inbound",
    }
    assert stored["status"] == "ended" and stored["end_reason"] == "client"
    users = [t["text"] for t in stored["transcript"] if t["role"] == "user"]
    turns = [(t["role"], t["text"], t["interrupted"]) for t in stored["transcript"]]
    assert len(users) == 3, turns
    assert normalized_wer([speech["librivox-0870"].text], [users[0]]) <= 0.25, users[0]
    assert "amiable" in users[1].lower(), turns
    assert users[2] == "The caller pressed 1 2 3"

    (cut,) = [
        t for t in stored["transcript"] if t["turn_id"] == answer_turn and t["role"] == "agent"
    ]
    assert cut["interrupted"], turns
    # only what was played before the clear is kept: no more words than that audio holds
    played_s = clear["played_ms"][answer_turn] / 1000
    words = cut["text"].split()
    assert 1 <= len(words) <= 4 * played_s + 1, (cut["text"], played_s)

    log = await asyncio.to_thread(srv.log.read_text)
    assert params["token"] not in log and AUTH_TOKEN not in log
    skipped = [r for r in srv.log_records() if r.get("msg") == "twilio stream error"]
    assert len(skipped) >= 5
