"""A real OpenAI-compatible LLM server on this machine: llama.cpp's own HTTP server (through
``xllamacpp``) with a GGUF model, by default Parley's own (Qwen2.5-Coder-0.5B). For tests and
benchmarks of the remote LLM provider::

    python -m parley.testing.llama_server [--model FILE] [--port 0] [--parallel 2]

It prints ``listening on http://127.0.0.1:PORT`` once it answers, then serves until it is
stopped (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from parley.providers.llm.llama_local import LOG_ERRORS_ONLY
from parley.providers.llm.qwen_weights import qwen_path
from parley.testing.processes import stop_process
from parley.testing.server import shared_models_dir

READY_PREFIX = "listening on "


def main(argv: list[str] | None = None) -> int:
    """Run the server until stopped."""
    import xllamacpp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=None, help="GGUF file (default: the embedded LLM)"
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--parallel", type=int, default=2, help="conversations at once")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=2048, help="tokens per conversation")
    args = parser.parse_args(argv)
    params = xllamacpp.CommonParams()
    params.model.path = str(args.model or qwen_path(shared_models_dir()))
    params.model_alias = ["local-model"]
    params.n_parallel = args.parallel
    params.n_ctx = args.context * args.parallel
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.verbosity = LOG_ERRORS_ONLY
    params.ui = False
    server = xllamacpp.Server(params)
    print(f"{READY_PREFIX}{server.listening_address}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with suppress(KeyboardInterrupt):
        stopped.wait()
    del server
    return 0


@contextmanager
def running_llama_server(*extra: str, timeout_s: float = 120.0) -> Iterator[str]:
    """Start the server in a child process; yields its base URL (``.../v1``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "parley.testing.llama_server", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = ""
        while time.monotonic() < deadline and not line.startswith(READY_PREFIX):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited with {process.returncode}")
        if not line.startswith(READY_PREFIX):
            raise RuntimeError("the llama.cpp server did not start in time")
        yield line[len(READY_PREFIX) :].strip() + "/v1"
    finally:
        stop_process(process, grace_s=30)


if __name__ == "__main__":
    sys.exit(main())
