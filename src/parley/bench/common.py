"""What the benchmarks share: the command line, the server they talk to, statistics,
CPU and memory meters, real-time audio streaming and the result files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from parley.audio.levels import speech_bounds_ms
from parley.testing.server import ServerProcess, start_server

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from parley.client import CallTurn

DEFAULT_OUT = Path("benchmarks/results")
STAGES = [
    "endpointing",
    "stt",
    "llm_first_token",
    "first_clause",
    "tts_first_audio",
    "first_audio_sent",
    "voice_to_voice",
]
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# statistics ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summarize(values: list[float]) -> dict[str, float]:
    """p50/p95/max/mean of a list of milliseconds."""
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


def summary_or_none(values: list[float]) -> dict[str, float] | None:
    """:func:`summarize`, or None for no values."""
    return summarize(values) if values else None


def fmt(value: Any, digits: int = 0) -> str:
    """A number for a table, ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"


# command line and target server -------------------------------------------------------


def base_parser(description: str | None, prog: str) -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--out``, ``--url``, ``--api-key``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"result folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--url", default=None, help="target a running server (default: start a fresh one)"
    )
    parser.add_argument(
        "--api-key", default=None, help="API key for --url (default $PARLEY_API_KEY)"
    )
    return parser


@dataclass
class Target:
    """The server a benchmark talks to; ``server`` is set when the benchmark started it."""

    url: str
    key: str
    server: ServerProcess | None
    pid: int | None


@contextlib.contextmanager
def target(args: argparse.Namespace, env: dict[str, str] | None = None) -> Iterator[Target]:
    """Start a fresh server, or use ``--url``/``--api-key`` (its process is looked up
    by port when it runs on this machine, for the CPU and memory figures)."""
    if args.url:
        key = args.api_key or os.environ.get("PARLEY_API_KEY")
        if not key:
            raise SystemExit("error: --url needs --api-key (or $PARLEY_API_KEY)")
        yield Target(args.url, key, None, find_server_pid(args.url))
        return
    server = start_server(Path(tempfile.mkdtemp(prefix="parley-bench-")) / "data", env=env)
    try:
        yield Target(server.url, server.admin_key, server, server.process.pid)
    finally:
        server.stop()


def find_server_pid(url: str) -> int | None:
    """The pid of the local process listening on ``url``'s port, if it can be seen."""
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                    inodes.add(cols[9])
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(proc.name)
    return None


def machine() -> dict[str, Any]:
    """CPU count, platform and the load before the run (to spot a busy machine)."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }


def now_utc() -> str:
    """ISO time stamp, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# CPU and memory -----------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _system_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    cols = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cols[3] + (cols[4] if len(cols) > 4 else 0)
    total = sum(cols[:8])
    return (total - idle) / _TICK, total / _TICK


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


@dataclass
class Meter:
    """CPU and memory over a stretch of time: the server process (when its pid is known),
    this benchmark process (the client), and the whole machine.

    CPU figures are percent of one core (200 = two cores busy). ``other_cpu_percent`` is
    what neither the server nor the client used: other work on the machine. Peak RSS is the
    kernel's VmHWM after resetting it at the start (``/proc/PID/clear_refs``); where that is
    not allowed it is the largest VmRSS seen by sampling every 100 ms.
    """

    pid: int | None
    _start: dict[str, float] = field(default_factory=dict)
    _peak_sampled: int = 0
    _hwm_reset: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Meter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def start(self) -> None:
        """Begin measuring."""
        busy, total = _system_cpu_s()
        times = os.times()
        self._start = {
            "wall": time.monotonic(),
            "busy": busy,
            "total": total,
            "client": times.user + times.system,
        }
        if self.pid is not None:
            self._start["server"] = _proc_cpu_s(self.pid)
            try:
                Path(f"/proc/{self.pid}/clear_refs").write_text("5")
                self._hwm_reset = True
            except OSError:
                self._hwm_reset = False
            self._peak_sampled = _memory_kib(self.pid).get("VmRSS", 0)
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            assert self.pid is not None
            with contextlib.suppress(OSError):
                rss = _memory_kib(self.pid).get("VmRSS", 0)
                self._peak_sampled = max(self._peak_sampled, rss)

    def stop(self) -> dict[str, Any]:
        """Stop and return the figures since :meth:`start`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        wall = time.monotonic() - self._start["wall"]
        busy, total = _system_cpu_s()
        times = os.times()
        client = (times.user + times.system - self._start["client"]) / wall * 100
        cores = os.cpu_count() or 1
        system = (busy - self._start["busy"]) / max(1e-9, total - self._start["total"])
        result: dict[str, Any] = {
            "seconds": round(wall, 1),
            "system_cpu_percent": round(system * 100 * cores, 1),
            "client_cpu_percent": round(client, 1),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
            "server_cpu_percent": None,
            "server_peak_rss_kib": None,
            "server_rss_kib": None,
        }
        if self.pid is not None:
            server = (_proc_cpu_s(self.pid) - self._start["server"]) / wall * 100
            memory = _memory_kib(self.pid)
            peak = memory["VmHWM"] if self._hwm_reset else self._peak_sampled
            result.update(
                server_cpu_percent=round(server, 1),
                server_peak_rss_kib=max(peak, self._peak_sampled),
                server_rss_kib=memory.get("VmRSS"),
                peak_rss_method="VmHWM since reset" if self._hwm_reset else "sampled VmRSS",
            )
        other = result["system_cpu_percent"] - client - (result["server_cpu_percent"] or 0.0)
        result["other_cpu_percent"] = round(max(0.0, other), 1) if self.pid else None
        return result


# streaming ----------------------------------------------------------------------------


def speech_end_ms(pcm: bytes) -> float | None:
    """Where speech ends in a clip (noise-floor relative levels, see parley.audio.levels)."""
    bounds = speech_bounds_ms(pcm)
    return None if bounds is None else bounds[1]


def client_voice_to_voice_ms(turn: CallTurn) -> float | None:
    """First agent audio received minus the end of speech in the streamed clip, as
    :func:`parley.client.call` measured it (speech end from :func:`speech_end_ms`)."""
    if turn.reply is None or turn.reply.first_audio_at is None:
        return None
    return turn.client_voice_to_voice_ms


# results ------------------------------------------------------------------------------


def figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (9, 4.5)) -> Any:
    """A matplotlib figure and axes on the Agg backend (no display, no network)."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - the dev extra is missing
        raise SystemExit("the benchmarks need matplotlib: pip install -e '.[dev]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, squeeze=False)


def retrieval_questions() -> list[dict[str, Any]]:
    """The knowledge-base question set (``bench/data/retrieval_questions.json``): id,
    document, question, spoken, fact."""
    data = resources.files("parley.bench").joinpath("data/retrieval_questions.json")
    return list(json.loads(data.read_text())["questions"])


def config_bars(ax: Any, summary: dict[str, dict[str, Any]], key: str, title: str) -> None:
    """Bars of ``summary[config][key]``'s p50 and p95, side by side for each config."""
    configs = list(summary)
    xs = range(len(configs))
    for offset, stat in ((-0.2, "p50"), (0.2, "p95")):
        ys = [(summary[c][key] or {}).get(stat, 0) for c in configs]
        ax.bar([x + offset for x in xs], ys, 0.4, label=stat)
    ax.set_xticks(list(xs), configs)
    ax.set(ylabel="ms", title=title)
    ax.legend()


def write_results(
    out: Path, name: str, report: dict[str, Any], plot: Callable[[dict[str, Any]], Figure]
) -> tuple[Path, Path]:
    """Write ``<name>-<timestamp>.json`` and the PNG that ``plot`` draws, same stem."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    json_path.write_text(json.dumps(report, indent=2))
    fig = plot(report)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return json_path, png_path


def print_load(meter: dict[str, Any]) -> None:
    """One line on CPU use, so a busy machine shows."""
    print(
        f"cpu (% of one core): server {fmt(meter.get('server_cpu_percent'))}, "
        f"client {fmt(meter.get('client_cpu_percent'))}, "
        f"other processes {fmt(meter.get('other_cpu_percent'))}, "
        f"machine {fmt(meter.get('system_cpu_percent'))} of {100 * (os.cpu_count() or 1)} | "
        f"load avg {meter.get('load_average_1m_after')}"
    )


# temporary agents ---------------------------------------------------------------------

COPIED_AGENT_FIELDS = (
    "system_prompt",
    "voice_id",
    "first_message",
    "language",
    "tools",
    "max_turns",
    "content_policy_id",
    "loop_detection",
    "knowledge_base_ids",
    "web_search",
    "provider_overrides",
)
"""What :func:`temporary_agent` copies, besides the turn settings set on the agent."""


@contextlib.contextmanager
def temporary_agent(url: str, key: str, base: str = "agt_demo", **changes: Any) -> Iterator[str]:
    """A new agent like ``base`` (its prompt, voice, tools and own turn settings) with
    ``changes`` applied, e.g. ``turn_detection="silence"``; its id, deleted afterwards."""
    from parley.client import ParleyClient

    with ParleyClient(url, key) as client:
        agent: dict[str, Any] = dict(client.get_agent(base))
        fields = {name: agent[name] for name in COPIED_AGENT_FIELDS}
        fields.update(agent["settings"])
        fields.update(changes)
        label = " ".join(f"{k}={v}" for k, v in changes.items())
        fields["name"] = f"{agent['name']} [bench {label}]"[:200]
        created = client.create_agent(**fields)
        try:
            yield created["id"]
        finally:
            client.delete_agent(created["id"])
