"""Voice-to-voice latency through each protocol edge, side by side.

The same recorded utterances go to the demo agent over the native WebSocket, Socket.IO,
the OpenAI-Realtime-compatible endpoint and a Twilio media stream, each in the audio
format its clients use (16 kHz PCM16, 16 kHz PCM16, 24 kHz PCM16, 8 kHz μ-law), as
20 ms frames in real time with silence in between. The protocols take turns (one
conversation each per round) so a busy machine slows them alike. Per turn: the client's
voice-to-voice (first agent audio received minus the end of speech in the streamed clip)
and the server's own (stored with the turn). Client minus server is what the edge, the
socket and the client's end-of-speech estimate add; the native protocol is the baseline.

    parley bench protocols [--rounds 2] [--protocols native socketio realtime twilio]
                           [--utterances NAME ...] [--out DIR] [--url URL --api-key KEY]
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from parley.audio.g711 import pcm16_to_mulaw
from parley.audio.resample import resample_pcm16
from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    base_parser,
    figure,
    fmt,
    machine,
    now_utc,
    print_load,
    summary_or_none,
    target,
    write_results,
)
from parley.client import Microphone, conversation_url, trailing_silence_ms
from parley.testing.recordings import recording

PROTOCOLS = ("native", "socketio", "realtime", "twilio")
DEFAULT_UTTERANCES = ["librivox-0880", "cards-005", "librivox-0930", "cards-001"]
AGENT = "agt_demo"
FRAME_S = 0.02
FRAME_16K = 640  # 20 ms of 16 kHz PCM16
SOCKETIO_NAMESPACE = "/v1/audio/agent"
REPLY_TIMEOUT_S = 45.0


@dataclass
class Heard:
    """What a client received of the agent: audio (arrival time, seconds of audio) and
    the arrival times of agent-turn ends."""

    audio: list[tuple[float, float]] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add_audio(self, seconds: float) -> None:
        self.audio.append((time.monotonic(), seconds))
        self.changed.set()

    def end_turn(self) -> None:
        self.ends.append(time.monotonic())
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.2))
        return True

    def played_out_at(self, since: float) -> float:
        """When a real-time player would finish the audio received after ``since``."""
        end = since
        for at, seconds in self.audio:
            if at >= since:
                end = max(end, at) + seconds
        return end


class Edge(abc.ABC):
    """A client of one protocol: opens a conversation with the demo agent, sends 20 ms
    frames in its wire format and reports agent audio and turn ends into ``heard``."""

    name: str
    frame_bytes = FRAME_16K  # 20 ms of input audio on the wire

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.ws_url = url.replace("http", "ws", 1)
        self.heard = Heard()
        self.session_id = ""
        self._tasks: list[asyncio.Task[None]] = []

    def encode(self, pcm16k: bytes) -> bytes:
        """16 kHz PCM16 → this protocol's input audio (whole utterances)."""
        return pcm16k

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and start the conversation; sets ``session_id``."""

    @abc.abstractmethod
    async def send(self, frame: bytes) -> None:
        """Send one 20 ms frame of encoded audio."""

    def listen(self, ws: websockets.ClientConnection, handle: Callable[[Any], None]) -> None:
        """Pass each JSON message of ``ws`` to ``handle`` until the socket closes."""

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    handle(json.loads(raw))

        self._tasks.append(asyncio.create_task(read()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()


class NativeEdge(Edge):
    name = "native"

    async def open(self) -> None:
        self.ws = await websockets.connect(conversation_url(self.url, self.key, AGENT))
        first = json.loads(await self.ws.recv())
        if first.get("type") != "connected":
            raise ConnectionError(f"native: {first}")
        self.session_id = first["conversation_id"]
        self.listen(self.ws, self._on)

    def _on(self, event: dict[str, Any]) -> None:
        if event["type"] == "audio":
            self.heard.add_audio(len(base64.b64decode(event["audio"])) / 32_000)
        elif event["type"] == "agent_turn_end":
            self.heard.end_turn()

    async def send(self, frame: bytes) -> None:
        await self.ws.send(json.dumps({"type": "audio", "audio": base64.b64encode(frame).decode()}))

    async def close(self) -> None:
        await super().close()
        await self.ws.close()


class SocketIOEdge(Edge):
    name = "socketio"

    async def open(self) -> None:
        try:
            import socketio  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - the dev extra is missing
            raise SystemExit("this benchmark needs the dev extra: pip install -e '.[dev]'") from exc
        self.sio = socketio.AsyncClient(reconnection=False)
        started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        @self.sio.on("*", namespace=SOCKETIO_NAMESPACE)  # type: ignore[untyped-decorator]
        async def on_any(name: str, data: Any = None) -> None:
            if name == "audio_chunk":
                self.heard.add_audio(len(base64.b64decode(data["audio"])) / 32_000)
            elif name == "audio_end":
                self.heard.end_turn()
            elif name in ("session_started", "error") and not started.done():
                started.set_result({"event": name, **data})

        query = urlencode({"api_key": self.key})
        await self.sio.connect(
            f"{self.url}?{query}", namespaces=[SOCKETIO_NAMESPACE], transports=["websocket"]
        )
        await self.sio.emit("start_session", {"agent_id": AGENT}, namespace=SOCKETIO_NAMESPACE)
        reply = await asyncio.wait_for(started, 30)
        if reply["event"] != "session_started":
            raise ConnectionError(f"socketio: {reply}")
        self.session_id = reply["session_id"]

    async def send(self, frame: bytes) -> None:
        chunk = {"audio": base64.b64encode(frame).decode(), "format": "pcm16", "sample_rate": 16000}
        await self.sio.emit("audio_chunk", chunk, namespace=SOCKETIO_NAMESPACE)

    async def close(self) -> None:
        await super().close()
        await self.sio.disconnect()


class RealtimeEdge(Edge):
    name = "realtime"
    frame_bytes = 960  # 20 ms of 24 kHz PCM16

    def encode(self, pcm16k: bytes) -> bytes:
        return resample_pcm16(pcm16k, 16_000, 24_000)

    async def open(self) -> None:
        self.ws = await websockets.connect(
            f"{self.ws_url}/v1/realtime?model={AGENT}",
            additional_headers={"Authorization": f"Bearer {self.key}"},
            max_size=None,
        )
        while not self.session_id:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if event["type"] == "error":
                raise ConnectionError(f"realtime: {event}")
            if event["type"] == "conversation.created":
                self.session_id = event["conversation"]["id"]
        self.listen(self.ws, self._on)

    def _on(self, event: dict[str, Any]) -> None:
        if event["type"] == "response.output_audio.delta":
            self.heard.add_audio(len(base64.b64decode(event["delta"])) / 48_000)
        elif event["type"] == "response.done":
            self.heard.end_turn()

    async def send(self, frame: bytes) -> None:
        event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(frame).decode()}
        await self.ws.send(json.dumps(event))

    async def close(self) -> None:
        await super().close()
        await self.ws.close()


class TwilioEdge(Edge):
    """Twilio's side of a media stream: μ-law 8 kHz in and out; each mark is echoed once
    the agent audio before it has played on a simulated 8 kHz clock, as Twilio does."""

    name = "twilio"
    frame_bytes = 160  # 20 ms of 8 kHz μ-law

    def encode(self, pcm16k: bytes) -> bytes:
        return pcm16_to_mulaw(resample_pcm16(pcm16k, 16_000, 8_000))

    async def open(self) -> None:
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = "CA" + uuid.uuid4().hex
        self._seq = 0
        self._played_until = 0.0
        self.ws = await websockets.connect(f"{self.ws_url}/v1/twilio/media", max_size=None)
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1"}))
        start = {
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "accountSid": "AC" + "0" * 32,
            "tracks": ["inbound"],
            "customParameters": {"api_key": self.key, "agent_id": AGENT},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self._send("start", start=start)
        self.listen(self.ws, self._on)
        self.session_id = await self._find_session()

    async def _find_session(self) -> str:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers) as http:
            for _ in range(100):
                page = await http.get(f"/v1/agents/{AGENT}/sessions", params={"limit": 20})
                page.raise_for_status()
                for session in page.json()["data"]:
                    if session["metadata"].get("call_sid") == self.call_sid:
                        return str(session["session_id"])
                await asyncio.sleep(0.1)
        raise ConnectionError("twilio: the stream's session did not appear")

    async def _send(self, event: str, **body: Any) -> None:
        self._seq += 1
        message = {"event": event, "sequenceNumber": str(self._seq), **body}
        await self.ws.send(json.dumps({**message, "streamSid": self.stream_sid}))

    def _on(self, msg: dict[str, Any]) -> None:
        now = time.monotonic()
        if msg["event"] == "media":
            seconds = len(base64.b64decode(msg["media"]["payload"])) / 8000
            self.heard.add_audio(seconds)
            self._played_until = max(self._played_until, now) + seconds
        elif msg["event"] == "mark":
            name = msg["mark"]["name"]
            if ":end:" in name:
                self.heard.end_turn()
            delay = max(0.0, self._played_until - now)
            self._tasks.append(asyncio.create_task(self._echo(name, delay)))
        elif msg["event"] == "clear":
            self._played_until = now

    async def _echo(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._send("mark", mark={"name": name})

    async def send(self, frame: bytes) -> None:
        media = {"track": "inbound", "payload": base64.b64encode(frame).decode()}
        await self._send("media", media=media)

    async def close(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._send("stop", stop={"callSid": self.call_sid})
        await super().close()
        await self.ws.close()


EDGES: dict[str, type[Edge]] = {
    e.name: e for e in (NativeEdge, SocketIOEdge, RealtimeEdge, TwilioEdge)
}


async def converse(edge: Edge, clips: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """One conversation: let any greeting play out, then say each clip and wait for the
    reply to play out. Returns one row per clip."""
    heard = edge.heard
    await edge.open()
    mouth = Microphone(
        edge.send,
        frame_bytes=edge.frame_bytes,
        frame_s=FRAME_S,
        quiet=edge.encode(bytes(FRAME_16K)),
    )
    streaming = asyncio.create_task(mouth.run())
    rows = []
    try:
        if await heard.until(lambda: bool(heard.audio), 1.5):  # a greeting
            await heard.until(lambda: bool(heard.ends), REPLY_TIMEOUT_S)
            await asyncio.sleep(max(0.0, heard.played_out_at(0.0) - time.monotonic()) + 0.2)
        for name, pcm in clips:
            ends = len(heard.ends)
            sent = await mouth.say(edge.encode(pcm))
            speech_end = sent - trailing_silence_ms(pcm) / 1000

            def replied(before: int = ends) -> bool:
                return len(heard.ends) > before

            answered = await heard.until(replied, REPLY_TIMEOUT_S)
            first = next((at for at, _ in heard.audio if at > speech_end), None)
            v2v = None if first is None or not answered else (first - speech_end) * 1000
            rows.append({"utterance": name, "client_voice_to_voice_ms": v2v})
            if first is not None:
                await asyncio.sleep(max(0.0, heard.played_out_at(first) - time.monotonic()) + 0.2)
    finally:
        streaming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streaming
        await edge.close()
    return rows


async def server_turns(url: str, key: str, session_id: str) -> list[float | None]:
    """The server's voice-to-voice of each answer (agent turns after a user turn)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        for _ in range(50):  # the session is stored once it has ended
            detail = (await http.get(f"/v1/sessions/{session_id}")).json()
            if detail["status"] != "active":
                break
            await asyncio.sleep(0.1)
    turns = detail["transcript"]
    answers = [
        t
        for i, t in enumerate(turns)
        if t["role"] == "agent" and i and turns[i - 1]["role"] == "user"
    ]
    return [t["latency_ms"].get("voice_to_voice") for t in answers]


async def one_conversation(url: str, key: str, protocol: str, names: list[str]) -> dict[str, Any]:
    clips = [(n, read_wav(recording(n).path)) for n in names]
    edge = EDGES[protocol](url, key)
    rows = await converse(edge, clips)
    server = await server_turns(url, key, edge.session_id)
    paired = len(server) == len(rows)
    for i, row in enumerate(rows):
        row["protocol"] = protocol
        row["session_id"] = edge.session_id
        row["server_voice_to_voice_ms"] = server[i] if paired else None
    return {"session_id": edge.session_id, "turns": rows, "server_answers": server}


def summary(turns: list[dict[str, Any]], protocols: list[str]) -> dict[str, Any]:
    """Per protocol: client and server voice-to-voice, and client minus server."""
    out: dict[str, Any] = {}
    for p in protocols:
        mine = [t for t in turns if t["protocol"] == p]
        client = [t["client_voice_to_voice_ms"] for t in mine]
        server = [t["server_voice_to_voice_ms"] for t in mine]
        gaps = [c - s for c, s in zip(client, server, strict=True) if c is not None and s]
        out[p] = {
            "turns": len(mine),
            "turns_without_reply": sum(c is None for c in client),
            "client_voice_to_voice_ms": summary_or_none([c for c in client if c is not None]),
            "server_voice_to_voice_ms": summary_or_none([s for s in server if s is not None]),
            "client_minus_server_ms_p50": round(statistics.median(gaps), 1) if gaps else None,
        }
    return out


def plot(report: dict[str, Any]) -> Any:
    """Client and server voice-to-voice per protocol (box plots)."""
    fig, axes = figure(1, 1, (9, 4.5))
    ax = axes[0][0]
    protocols = report["settings"]["protocols"]
    data, labels, positions = [], [], []
    for i, p in enumerate(protocols):
        for j, side in enumerate(("client", "server")):
            values = [
                t[f"{side}_voice_to_voice_ms"]
                for t in report["turns"]
                if t["protocol"] == p and t[f"{side}_voice_to_voice_ms"] is not None
            ]
            data.append(values or [float("nan")])
            labels.append(f"{p}\n{side}")
            positions.append(i * 3 + j)
    ax.boxplot(data, positions=positions, tick_labels=labels, widths=0.8)
    ax.set(ylabel="ms", title="voice-to-voice by protocol", ylim=(0, None))
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench protocols")
    parser.add_argument("--rounds", type=int, default=2, metavar="N")
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"benchmark": "protocols", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "rounds": args.rounds,
        "protocols": args.protocols,
        "utterances": args.utterances,
    }
    conversations = []
    with target(args) as tgt:
        meter = Meter(tgt.pid)
        meter.start()
        for r in range(args.rounds):
            k = r % len(args.utterances)
            names = args.utterances[k:] + args.utterances[:k]
            for protocol in args.protocols:
                done = asyncio.run(one_conversation(tgt.url, tgt.key, protocol, names))
                conversations.append({"protocol": protocol, **done})
        report["load"] = meter.stop()
    report["conversations"] = conversations
    report["turns"] = [t for c in conversations for t in c["turns"]]
    report["summary"] = summary(report["turns"], args.protocols)
    json_path, png_path = write_results(args.out, "protocols", report, plot)

    print(
        f"{'protocol':<10}{'turns':>6}{'no reply':>9}{'client p50':>11}{'p95':>7}"
        f"{'server p50':>11}{'p95':>7}{'client-server p50':>19}"
    )
    for p, s in report["summary"].items():
        c, v = s["client_voice_to_voice_ms"] or {}, s["server_voice_to_voice_ms"] or {}
        print(
            f"{p:<10}{s['turns']:>6}{s['turns_without_reply']:>9}{fmt(c.get('p50')):>11}"
            f"{fmt(c.get('p95')):>7}{fmt(v.get('p50')):>11}{fmt(v.get('p95')):>7}"
            f"{fmt(s['client_minus_server_ms_p50']):>19}"
        )
    print_load(report["load"])
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
