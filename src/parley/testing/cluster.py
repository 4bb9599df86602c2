"""A real Parley cluster on this machine: N ``parley serve`` replicas sharing one private
Postgres and one private Redis, behind a real HAProxy (for the multi-replica tests and
``parley bench cluster``).

Each replica (``r1`` ... ``rN``, numbered from 1) has its own data directory, a short
lease (2 s) so a killed replica is noticed quickly, and the real models (~1.3 GB, 20-60 s
to start on 2 cores): keep N small. The first bootstraps the database; the others get its key.

    with running_cluster(2) as cluster:
        cluster.url                # HAProxy
        cluster.replica(1).url     # r1 directly
        cluster.kill(1)            # SIGKILL
        cluster.drain(2)           # SIGTERM, seconds until it exited
        cluster.restart(1)

:class:`ResumingCall` is a client for it that resumes by itself after a drop, as the
SDKs do (protocol.md), and records each drop and turn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from parley.testing.haproxy import HAProxyProcess, running_haproxy_process
from parley.testing.postgres import PostgresServer, running_postgres
from parley.testing.processes import stop_process
from parley.testing.redis_server import running_redis
from parley.testing.server import ServerProcess, free_port, start_server


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """What every replica is started with (its ``PARLEY_CLUSTER__*`` settings, capacity
    and any other environment)."""

    lease_s: float = 2.0
    resume_window_s: float = 30.0
    drain_timeout_s: float = 20.0
    max_sessions: int = 4
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Replica:
    """One replica: its id, where it listens and keeps its data, and its process (None
    while it is down)."""

    replica_id: str
    port: int
    data_dir: Path
    server: ServerProcess | None = None
    terminated_at: float | None = None

    @property
    def url(self) -> str:
        """Its own base URL (not through HAProxy)."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """N replicas, Postgres, Redis and HAProxy; see the module's docstring."""

    postgres: PostgresServer
    redis_url: str
    settings: ClusterOptions
    replicas: list[Replica]
    admin_key: str = ""
    proxy: HAProxyProcess | None = None

    @property
    def url(self) -> str:
        """HAProxy's base URL."""
        if self.proxy is None:
            raise RuntimeError("HAProxy is not running yet")
        return self.proxy.url

    @property
    def database_url(self) -> str:
        """The shared Postgres database."""
        return self.postgres.url()

    def env(self, replica_id: str) -> dict[str, str]:
        """The environment replica ``replica_id`` is started with."""
        s = self.settings
        return {
            "PARLEY_DATABASE_URL": self.database_url,
            "PARLEY_CLUSTER__REDIS_URL": self.redis_url,
            "PARLEY_CLUSTER__REPLICA_ID": replica_id,
            "PARLEY_CLUSTER__LEASE_S": str(s.lease_s),
            "PARLEY_CLUSTER__RESUME_WINDOW_S": str(s.resume_window_s),
            "PARLEY_CLUSTER__DRAIN_TIMEOUT_S": str(s.drain_timeout_s),
            "PARLEY_LIMITS__MAX_SESSIONS": str(s.max_sessions),
            **s.env,
        }

    def _get(self, i: int) -> Replica:
        if not 1 <= i <= len(self.replicas):
            raise IndexError(f"replica {i}: the replicas are 1..{len(self.replicas)}")
        return self.replicas[i - 1]

    def replica(self, i: int) -> ServerProcess:
        """Replica ``i``'s running server (``i`` from 1, id ``r{i}``)."""
        server = self._get(i).server
        if server is None:
            raise RuntimeError(f"replica r{i} is not running")
        return server

    def is_running(self, i: int) -> bool:
        """True while replica ``i``'s process is alive."""
        server = self._get(i).server
        return server is not None and server.process.poll() is None

    def start(self, i: int, timeout_s: float = 240.0) -> ServerProcess:
        """Start replica ``i`` (on its port, with its data directory) and wait until it
        is healthy."""
        replica = self._get(i)
        if self.is_running(i):
            raise RuntimeError(f"replica {replica.replica_id} is already running")
        log = replica.data_dir / "serve.log"
        if log.exists():  # an earlier run's log: keep it (serve-1.log, ...) for the record
            log.rename(
                replica.data_dir
                / f"serve-{len(list(replica.data_dir.glob('serve-*.log'))) + 1}.log"
            )
        replica.server = start_server(
            replica.data_dir,
            timeout=timeout_s,
            env=self.env(replica.replica_id),
            port=replica.port,
            admin_key=self.admin_key or None,
        )
        replica.terminated_at = None
        self.admin_key = self.admin_key or replica.server.admin_key
        return replica.server

    def restart(self, i: int, timeout_s: float = 240.0) -> ServerProcess:
        """Start replica ``i`` again after :meth:`kill` or :meth:`drain` (stopping it
        first if it still runs), and wait until HAProxy routes to it again."""
        if self.is_running(i):
            self.stop(i)
        server = self.start(i, timeout_s)
        if self.proxy is not None:
            self.proxy.wait_for_state(self._get(i).replica_id, "UP", timeout_s=60)
        return server

    def kill(self, i: int) -> None:
        """SIGKILL replica ``i`` (a crash: no drain, no goodbye) and reap it."""
        server = self.replica(i)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()

    def terminate(self, i: int) -> None:
        """Send replica ``i`` SIGTERM (it drains); returns at once."""
        replica = self._get(i)
        self.replica(i).process.send_signal(signal.SIGTERM)
        replica.terminated_at = time.monotonic()

    def wait_exited(self, i: int, timeout_s: float | None = None) -> float:
        """Wait until replica ``i`` has exited after :meth:`terminate`; seconds from the
        SIGTERM to the exit. Past ``timeout_s`` (default: drain timeout + 30 s) it is killed
        and :class:`TimeoutError` raised."""
        replica, server = self._get(i), self.replica(i)
        limit = self.settings.drain_timeout_s + 30.0 if timeout_s is None else timeout_s
        try:
            server.process.wait(timeout=limit)
        except Exception as exc:
            server.process.kill()
            server.process.wait()
            raise TimeoutError(
                f"{replica.replica_id} did not exit {limit:g} s after SIGTERM"
            ) from exc
        return time.monotonic() - (replica.terminated_at or time.monotonic())

    def drain(self, i: int) -> float:
        """SIGTERM replica ``i`` and wait until it exited; the seconds that took."""
        self.terminate(i)
        return self.wait_exited(i)

    def stop(self, i: int) -> None:
        """Stop replica ``i`` (SIGTERM, SIGKILL after the drain timeout and 10 s)."""
        server = self._get(i).server
        if server is not None:
            stop_process(server.process, grace_s=self.settings.drain_timeout_s + 10.0)

    def rss_kib(self, i: int) -> int | None:
        """Replica ``i``'s resident memory (VmRSS, KiB), None if it is not running."""
        if not self.is_running(i):
            return None
        return self.replica(i).memory_kib().get("VmRSS")

    def cluster_info(self) -> dict[str, Any]:
        """``GET /v1/cluster`` through HAProxy (admin key)."""
        response = httpx.get(
            f"{self.url}/v1/cluster",
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=10,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def running_cluster(
    n: int = 2,
    settings: ClusterOptions | None = None,
    *,
    timeout_s: float = 240.0,
    keep_logs: Path | None = None,
) -> Iterator[Cluster]:
    """Start Postgres, Redis, ``n`` replicas (one after the other) and HAProxy in front;
    everything is stopped (by PID) and removed afterwards, except the replicas' and
    HAProxy's logs when ``keep_logs`` names a folder to copy them to."""
    if n < 1:
        raise ValueError("a cluster has at least one replica")
    settings = settings or ClusterOptions()
    if keep_logs is not None:
        keep_logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-cluster-")))
        postgres = stack.enter_context(running_postgres())
        redis_url = stack.enter_context(running_redis())
        replicas = [Replica(f"r{i}", free_port(), root / f"r{i}") for i in range(1, n + 1)]
        cluster = Cluster(postgres, redis_url, settings, replicas)

        def stop_all() -> None:
            for i in range(1, n + 1):
                cluster.stop(i)
            if keep_logs is not None:
                for replica in replicas:
                    for log in replica.data_dir.glob("serve*"):
                        shutil.copy(log, keep_logs / f"{replica.replica_id}-{log.name}")

        stack.callback(stop_all)
        for i in range(1, n + 1):
            cluster.start(i, timeout_s)
        cluster.proxy = stack.enter_context(
            running_haproxy_process(
                [r.url for r in replicas], names=[r.replica_id for r in replicas]
            )
        )
        proxy_log = cluster.proxy.log
        if keep_logs is not None:  # runs before HAProxy's folder is removed
            stack.callback(lambda: shutil.copy(proxy_log, keep_logs / "haproxy.log"))
        for replica in replicas:
            cluster.proxy.wait_for_state(replica.replica_id, "UP")
        yield cluster


# a conversation that resumes itself ---------------------------------------------------

FINAL_CLOSE_CODES = (4001, 4004)
"""Refusals of a resume that a client must not retry (protocol.md)."""


class Refused(Exception):
    """The server sent ``error`` instead of ``connected`` and closed the socket."""

    def __init__(self, code: str | None, close_code: int | None, message: str | None) -> None:
        super().__init__(f"{code} (close {close_code}): {message}")
        self.code, self.close_code = code, close_code


@dataclass
class Drop:
    """One lost connection of a :class:`ResumingCall` and what became of it."""

    at: float
    close_code: int | None
    notice: dict[str, Any] | None = None
    """the ``session_ended`` event that announced it (a drain), if any"""
    resumed_at: float | None = None
    attempts: int = 0
    refusals: int = 0
    same_conversation: bool | None = None
    resumed_flag: bool | None = None
    error: str | None = None

    @property
    def time_to_resume_s(self) -> float | None:
        """From the socket's close to the new ``connected``."""
        return None if self.resumed_at is None else self.resumed_at - self.at


@dataclass
class TurnResult:
    """One utterance said in a :class:`ResumingCall` and how it was answered:
    ``answered``, ``no_reply`` (none in time), ``unrecognized`` (no words heard),
    ``failed`` (the turn ended ``failed``), ``cut`` (the connection dropped during it)."""

    utterance: str
    outcome: str
    started_at: float
    turn_id: str | None = None
    client_voice_to_voice_ms: float | None = None


def backoff_delay_s(
    attempt: int, rng: random.Random, base_s: float = 0.25, cap_s: float = 4.0
) -> float:
    """Exponential backoff with full jitter: ``random(0, min(cap, base * 2**attempt))``."""
    return rng.uniform(0.0, min(cap_s, base_s * 2.0**attempt))


def ws_base(base_url: str) -> str:
    """``ws://`` or ``wss://`` form of an HTTP base URL."""
    return base_url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")


class ResumingCall:
    """A native conversation that, like the SDKs, resumes itself after a drop (backoff
    with full jitter within the resume window) and records every drop and turn. A
    simulated microphone streams 32 ms frames in real time (silence between utterances);
    while disconnected its audio is dropped.

        async with ResumingCall(url, key, agent_id) as call:
            turn = await call.turn("cards-001", pcm, speech_end_s)
    """

    FRAME_BYTES = 1024  # 32 ms of 16 kHz PCM16

    def __init__(
        self,
        base_url: str,
        api_key: str,
        agent_id: str,
        *,
        window_s: float = 30.0,
        open_deadline_s: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        query = urlencode({"api_key": api_key, "agent_id": agent_id})
        self.url = f"{ws_base(base_url)}/v1/voice/conversation?{query}"
        self.base = ws_base(base_url)
        self.window_s, self.open_deadline_s = window_s, open_deadline_s
        self.rng = rng or random.Random()
        self.conversation_id: str | None = None
        self.token: str | None = None
        self.drops: list[Drop] = []
        self.turns: list[TurnResult] = []
        self.open_refusals = 0
        self.final: str | None = None
        self.errors: list[str] = []
        self._ws: Any = None
        self._user: dict[str, str] = {}
        self._unrecognized: set[str] = set()
        self._ended: dict[str, str] = {}
        self._first_audio: dict[str, float] = {}
        self._audio_bytes: dict[str, int] = {}
        self._activity: dict[str, float] = {}
        self._notice: dict[str, Any] | None = None
        self._changed = asyncio.Condition()
        self._utterance: tuple[bytes, asyncio.Future[float]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        quiet = base64.b64encode(bytes(self.FRAME_BYTES)).decode()
        self._quiet = json.dumps({"type": "audio", "audio": quiet})

    @property
    def connected(self) -> bool:
        """True while a socket is open."""
        return self._ws is not None

    async def __aenter__(self) -> ResumingCall:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self, url: str) -> tuple[Any, dict[str, Any]]:
        ws = await websockets.connect(url, max_size=None, open_timeout=15, close_timeout=5)
        try:
            first: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        except BaseException:
            await ws.close()
            raise
        if first.get("type") != "connected":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 5)
            raise Refused(first.get("code"), ws.close_code, first.get("message"))
        return ws, first

    async def open(self) -> None:
        """Connect (retrying with backoff while the cluster is at capacity or a replica
        refuses) and start the microphone and the reader."""
        deadline = time.monotonic() + self.open_deadline_s
        attempt = 0
        while True:
            try:
                ws, first = await self._connect(self.url)
                break
            except Refused as exc:
                if exc.close_code != 1013 or time.monotonic() > deadline:
                    raise
                self.open_refusals += 1
            except (OSError, TimeoutError, websockets.WebSocketException):
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(backoff_delay_s(attempt, self.rng))
            attempt += 1
        self._ws, self.conversation_id = ws, str(first["conversation_id"])
        self.token = first.get("resume_token")
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._mic())]

    async def close(self) -> None:
        """End the conversation for good (``end``) and stop."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"type": "end"}))
                await asyncio.wait_for(ws.wait_closed(), 5)
            with contextlib.suppress(Exception):
                await ws.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, predicate: Any, timeout: float) -> bool:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _on_event(self, event: dict[str, Any]) -> None:
        kind, tid = event.get("type"), str(event.get("turn_id", ""))
        self._activity[tid] = time.monotonic()
        if kind == "transcript" and event.get("role") == "user" and event.get("final", True):
            self._user[tid] = str(event.get("text", ""))
        elif kind == "user_turn_dropped":
            self._unrecognized.add(tid)
        elif kind == "audio":
            self._first_audio.setdefault(tid, time.monotonic())
            self._audio_bytes[tid] = self._audio_bytes.get(tid, 0) + len(event["audio"]) * 3 // 4
        elif kind == "agent_turn_end":
            self._ended[tid] = str(event.get("status"))
        elif kind == "error":
            self.errors.append(f"{event.get('code')}: {event.get('message')}")
        elif kind == "session_ended":
            self._notice = event

    async def _read(self) -> None:
        while True:
            ws = self._ws
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    self._on_event(json.loads(raw))
                    await self._notify()
            if self._closing:
                return
            drop = Drop(time.monotonic(), ws.close_code, self._notice)
            self._ws, self._notice = None, None
            self.drops.append(drop)
            await self._notify()
            notice = drop.notice
            if drop.close_code in FINAL_CLOSE_CODES or (notice and not notice.get("resumable")):
                self.final = str(notice.get("reason") if notice else drop.close_code)
                await self._notify()
                return
            window = float((notice or {}).get("resume_within_s") or self.window_s)
            await self._resume(drop, drop.at + window)
            await self._notify()
            if self._ws is None:
                self.final = drop.error or "not resumed"
                return

    async def _resume(self, drop: Drop, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0 and self.token:
            await asyncio.sleep(min(left, backoff_delay_s(drop.attempts, self.rng)))
            drop.attempts += 1
            url = f"{self.base}/v1/voice/conversation?{urlencode({'resume_token': self.token})}"
            try:
                ws, first = await self._connect(url)
            except Refused as exc:
                if exc.close_code in FINAL_CLOSE_CODES:
                    drop.error = str(exc)
                    return
                drop.refusals += 1
                drop.error = str(exc)
                continue
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                drop.error = f"{type(exc).__name__}: {exc}"
                continue
            drop.resumed_at, drop.error = time.monotonic(), None
            drop.same_conversation = first.get("conversation_id") == self.conversation_id
            drop.resumed_flag = first.get("resumed")
            self.token, self._ws = first.get("resume_token"), ws
            return
        drop.error = drop.error or "the resume window passed"

    async def _mic(self) -> None:
        step = self.FRAME_BYTES / 2 / 16000
        next_at = time.monotonic()
        offset = 0
        while True:
            frame_message = self._quiet
            if self._utterance is not None:
                pcm, done = self._utterance
                if self._ws is None:  # dropped while speaking: the rest is lost
                    if not done.done():
                        done.set_exception(ConnectionError("the connection dropped"))
                    self._utterance, offset = None, 0
                else:
                    frame = pcm[offset : offset + self.FRAME_BYTES]
                    frame_message = json.dumps(
                        {"type": "audio", "audio": base64.b64encode(frame).decode()}
                    )
                    offset += self.FRAME_BYTES
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.send(frame_message)
            if self._utterance is not None and offset >= len(self._utterance[0]):
                if not self._utterance[1].done():
                    self._utterance[1].set_result(time.monotonic())
                self._utterance, offset = None, 0
            next_at += step
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until a socket is open (after a drop: resumed) or the call is over."""
        await self._wait(lambda: self._ws is not None or self.final is not None, timeout)
        return self._ws is not None

    async def turn(
        self, name: str, pcm: bytes, speech_end_s: float, reply_timeout: float = 60.0
    ) -> TurnResult:
        """Say ``pcm`` (speech ending ``speech_end_s`` into it), wait for the reply (up to
        ``reply_timeout`` for the user turn, then as long as the reply streams with no
        gap longer than that) and for it to play out; also kept in :attr:`turns`."""
        result = TurnResult(name, "cut", time.monotonic())
        self.turns.append(result)
        drops = len(self.drops)
        known = set(self._user) | self._unrecognized
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._utterance = (pcm, done)
        try:
            sent_at = await done
        except ConnectionError:
            return result
        speech_end = sent_at - (len(pcm) / 32000 - speech_end_s)

        def new_turn() -> str | None:
            heard = (set(self._user) | self._unrecognized) - known
            return min(heard, key=lambda t: int(t.rsplit("_", 1)[-1])) if heard else None

        await self._wait(lambda: new_turn() is not None or len(self.drops) > drops, reply_timeout)
        tid = new_turn()
        if tid is None:
            result.outcome = "cut" if len(self.drops) > drops else "no_reply"
            return result
        result.turn_id = tid
        if tid in self._unrecognized and tid not in self._user:
            result.outcome = "unrecognized"
            return result
        # a long reply streams for a while: give up only after reply_timeout without news
        while not await self._wait(lambda: tid in self._ended or len(self.drops) > drops, 1.0):
            if time.monotonic() - self._activity.get(tid, 0.0) > reply_timeout:
                break
        status = self._ended.get(tid)
        first = self._first_audio.get(tid)
        if status is None:
            result.outcome = "cut" if len(self.drops) > drops else "no_reply"
        else:
            result.outcome = "answered" if status == "completed" and first else "failed"
        if first is not None:
            result.client_voice_to_voice_ms = round((first - speech_end) * 1000.0, 1)
            played_at = first + self._audio_bytes.get(tid, 0) / 32000 + 0.15
            await asyncio.sleep(max(0.0, played_at - time.monotonic()))
        return result
