"""What the benchmarks share: ports, starting the hub and the peers, joining the hub's Ray, process
figures, percentiles, and writing a report (Markdown for people, JSON for bench/chart.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-" + "x" * 32
NAMESPACE = "hub-bench"


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


def server_log() -> Any:
    """Where servers' output goes: the file BENCH_LOG names (appended to), else nowhere."""
    path = os.environ.get("BENCH_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL  # noqa: SIM115 (the child holds it)


@contextmanager
def hub_server(
    address: str | None = None, *, command: Sequence[str] = ("-m", "hub.cli"), **env: str
) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """`hub serve` (namespace NAMESPACE, its own data dir) with its own local Ray, or, given a Ray
    `address`, one more ingress process joined to that Ray's shards; yields (base URL, process).
    RAY_ADDRESS=local: without it Ray joins the cluster another process on this machine started last.
    Run as `python -m hub.cli` (or `python <command> serve ...`: a script that wraps the CLI, as
    bench/latency_probe.py does), so a checkout on PYTHONPATH serves as well as an installed hub."""
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        join = ["--address", address] if address else []
        proc = subprocess.Popen(
            [sys.executable, *command, "serve", "--port", str(port), "--data-dir", data, *join]
            + ["--log-level", "warning"],
            env={**os.environ, "HUB_SECRET": SECRET, "HUB_NAMESPACE": NAMESPACE, "RAY_ADDRESS": address or "local"}
            | env,
            stdout=server_log(),
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, proc)
            yield base, proc
        finally:
            proc.terminate()
            proc.wait(timeout=60)


@contextmanager
def peer_server(socketio: bool = False) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """A peer of bench/peers.py (bare FastAPI, or python-socketio); yields (base URL, process)."""
    port = free_port()
    flags = ["--socketio"] if socketio else []
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "peers.py"), "--port", str(port), *flags],
        stdout=server_log(),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc, path="/docs")
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ray_address(hub_pid: int, timeout: float = 30) -> str:
    """The GCS address of the local Ray a `hub serve` process started: read from its Ray children's
    command lines, since "auto" would find whichever cluster on this machine started last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text() if entry.name.isdigit() else ")"
                if stat.rsplit(")", 1)[1].split()[1:2] != [str(hub_pid)]:
                    continue
                found = re.search(rb"--gcs-address=(\S+)", (entry / "cmdline").read_bytes().replace(b"\0", b" "))
            except OSError:
                continue
            if found:
                return found.group(1).decode()
        time.sleep(0.5)
    raise RuntimeError(f"no Ray started by process {hub_pid}")


@contextmanager
def joined_ray(hub_pid: int) -> Iterator[None]:
    """This process as a driver on the hub's Ray, left before the hub stops (already joined: stays)."""
    import ray

    from hub.raycluster import join

    if ray.is_initialized():
        yield
        return
    # The hub's own join: Ray token mode for an explicit address (Ray enables token authentication on
    # the local cluster `hub serve` starts, and a driver given its address sends the token only in
    # token mode), set for this process when it joins, not when this module is imported.
    join(ray_address(hub_pid), NAMESPACE, configure_logging=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def register_kinds(base: str, hub_pid: int, kinds: dict[str, tuple[Any, Any]]) -> None:
    """Register custom job kinds {name: (function, params model)} on the hub, through its Ray."""
    from hub.auth import issue_token
    from jobs import connect

    with joined_ray(hub_pid):
        nb = connect(base, issue_token(SECRET, "bench-admin", now=time.time()), namespace=NAMESPACE)
        for name, (fn, params) in kinds.items():
            nb.register_kind(name, fn, params)
        nb.close()


async def offer(
    send: Callable[[int, float], Awaitable[None]], messages: int, rate: float | None = None, in_flight: int = 8
) -> None:
    """Call `send(i, stamp)` for i in 0 .. messages-1, in order, with at most `in_flight` calls
    outstanding. Without `rate`, as fast as that allows (saturation: a server that accepts faster
    than it delivers builds a queue, and its latency grows with the run). With `rate`, message i is
    due at start + i / rate and is stamped with that time, so a server that falls behind shows it in
    its latency (no coordinated omission); without, the stamp is the time of the call."""
    window = asyncio.Semaphore(in_flight)

    async def one(i: int, stamp: float) -> None:
        try:
            await send(i, stamp)
        finally:
            window.release()

    sent = []
    start = time.time()
    for i in range(messages):
        if rate:
            await asyncio.sleep(max(0.0, start + i / rate - time.time()))
        await window.acquire()
        sent.append(asyncio.ensure_future(one(i, start + i / rate if rate else time.time())))
    await asyncio.gather(*sent)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> dict[int, float]:
    """{pid: user + system CPU seconds} of a process and every process under it."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
    children: dict[int, list[int]] = {}
    for p, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(p)
    found, todo, tick = {}, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        if p in stats:
            found[p] = (int(stats[p][11]) + int(stats[p][12])) / tick
    return found


class TreeCpu:
    """CPU seconds spent inside a `with` block by the processes under `pid` (and it) that live
    through the whole block: for a hub, its ingress, registry shards, job store and Ray's own
    daemons, and nothing else on this shared machine. Job monitors and their tasks come and go with
    their jobs; they are left out (their start-up, about a CPU second each, would drown the rest)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def __enter__(self) -> TreeCpu:
        self.first = _tree_cpu(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.last = _tree_cpu(self.pid)

    @property
    def seconds(self) -> float:
        return sum(cpu - self.first[p] for p, cpu in self.last.items() if p in self.first)

    def by_role(self) -> dict[str, float]:
        """The same CPU seconds by what each process is: "ingress" (the hub's own process), an
        actor's class ("RegistryShardActor", ...), "gcs_server", "raylet", or "other"."""
        roles: dict[str, float] = {}
        for p, cpu in self.last.items():
            if p in self.first:
                role = "ingress" if p == self.pid else _role(p)
                roles[role] = roles.get(role, 0.0) + cpu - self.first[p]
        return roles


def _role(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return role_of(cmdline)


def role_of(cmdline: str) -> str:
    """What a Ray process is, from its command line (actor workers are titled "ray::Class...")."""
    if cmdline.startswith("ray::"):
        return re.split(r"[.\s:]", cmdline[5:], maxsplit=1)[0] or "other"
    for daemon in ("gcs_server", "raylet"):
        if daemon in cmdline.split(" ", 1)[0]:
            return daemon
    return "other"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentiles_ms(seconds: Sequence[float], qs: Sequence[float] = (0.5, 0.95, 0.99)) -> dict[str, float]:
    """{"p50": ms, ...} of a list of durations in seconds (NaN when empty)."""
    ordered = sorted(seconds)
    return {
        f"p{round(100 * q)}": 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
        for q in qs
    }


def report(lines: list[str], out: Path, figures: dict[str, Any] | None = None) -> None:
    """Print a Markdown report and keep it in bench/results/, with its figures beside it as JSON."""
    text = "\n".join(lines)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if figures is not None:
        stamped = {"measured": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), **figures}
        out.with_suffix(".json").write_text(json.dumps(_finite(stamped), indent=1) + "\n")


def _finite(value: Any) -> Any:
    """NaN (a figure not measured) as JSON null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def self_signed_tls(directory: str | Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (P-256; actors.dataplane.keys.ServerKeys, the data
    plane's own) and its key, written as PEM files cert.pem and key.pem in `directory`; returns
    (certificate path, key path)."""
    from actors.dataplane.keys import ServerKeys

    return ServerKeys("127.0.0.1").files(directory)
