"""What the benchmarks share: ports, starting the hub and the bare peer, writing a report."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "x" * 32
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[Any], path: str = "/healthz", timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            if httpx.get(url + path, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not start")


@contextmanager
def hub_server(**env: str) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """`hub serve` with its own local Ray and data dir; yields (base URL, process)."""
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        proc = subprocess.Popen(
            [str(BIN / "hub"), "serve", "--port", str(port), "--data-dir", data, "--log-level", "warning"],
            env={**os.environ, "HUB_SECRET": SECRET, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, proc)
            yield base, proc
        finally:
            proc.terminate()
            proc.wait(timeout=60)


@contextmanager
def bare_server() -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """The bare FastAPI peer (bench/peers.py); yields (base URL, process)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "peers.py"), "--port", str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc, path="/docs")
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def report(lines: list[str], out: Path) -> None:
    """Print a Markdown report and keep it in bench/results/."""
    text = "\n".join(lines)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
