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
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # psutil is in the bench extra only: imported where it is used
    import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-" + "x" * 32
NAMESPACE = "hub-bench"
INGRESS = "hub serve (ingress + driver)"  # the role of the `hub serve` process (ROLES)


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


def init_local_ray(namespace: str | None = None) -> None:
    """A quiet local Ray of 2 CPUs for a bench that runs its own actors (no dashboard, no workers'
    output on this process's console); the caller shuts it down (`ray.shutdown`)."""
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        namespace=namespace,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


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


ROLES = [  # (substring of a process's command line, its role), first match wins
    ("gcs_server", "gcs_server"),
    ("raylet", "raylet"),
    ("dashboard/agent.py", "dashboard agent"),
    ("runtime_env/agent/main.py", "runtime env agent"),
    ("dashboard/dashboard.py", "dashboard"),
    ("log_monitor.py", "log monitor"),
    ("autoscaler/_private/monitor.py", "autoscaler monitor"),
    ("ray::RegistryShard", "registry shard"),
    ("ray::JobStore", "job store"),
    ("ray::IDLE", "idle Ray worker"),
    ("ray::DashboardAgent", "dashboard agent"),
    ("ray::RuntimeEnvAgent", "runtime env agent"),
    ("ray::", "Ray worker (other)"),
    ("default_worker.py", "idle Ray worker"),
    ("hub.cli", INGRESS),
]

# The processes that deliver, whoever they deliver to: the ingress (with the hub's Ray driver in
# it), the registry shards, the job store and Ray's daemons. Not the job monitors and their tasks
# ("Ray worker (other)"): they do the same work whoever watches.
DELIVERY_ROLES = frozenset(
    {
        INGRESS,
        "registry shard",
        "job store",
        "gcs_server",
        "raylet",
        "dashboard agent",
        "runtime env agent",
        "dashboard",
        "log monitor",
        "autoscaler monitor",
    }
)


def role_of_command(cmd: str) -> str:
    """The role (ROLES) of a process from its command line (Ray titles workers "ray::Class.method");
    "other" when nothing matches."""
    return next((r for key, r in ROLES if key in cmd), "other")


def process_role(p: psutil.Process) -> str:
    """The role of a live process (ROLES), "other: <name>" when none matches, "gone" if it ended."""
    import psutil

    try:
        cmd = " ".join(p.cmdline()) or p.name()
    except psutil.Error:
        return "gone"
    found = role_of_command(cmd)
    return f"other: {p.name()}" if found == "other" else found


def process_tree(root: psutil.Process) -> list[psutil.Process]:
    """`root` and every process under it (just `root` if it cannot be read)."""
    import psutil

    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def process_cpu(p: psutil.Process) -> float | None:
    """User + system CPU seconds of a process, None if it ended."""
    import psutil

    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return None


def threads_cpu_ns(pid: int) -> dict[int, int] | None:
    """{thread id: nanoseconds on a CPU} of each live thread of a process, from the scheduler's own
    count (/proc/PID/task/TID/schedstat, exact, where utime and stime come in 10 ms clock ticks);
    None if the process ended or the kernel does not keep the count."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    found: dict[int, int] = {}
    for tid in tids:
        try:
            found[int(tid)] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return found or None


def thread_name(pid: int, tid: int) -> str:
    """A thread's name (/proc/PID/task/TID/comm: Python's threads are "python", Ray's C++ threads
    name themselves: "worker.io", "client.poll0", ...); "?" if it ended."""
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


class RoleCpu:
    """CPU seconds spent inside a `with` block by the processes under `root` (and it) whose role
    (ROLES) is in `roles` (default DELIVERY_ROLES), by role. `root` itself is always INGRESS (it is
    the `hub serve` process, whatever its command line). The processes are picked when the block
    starts; one that ends inside it is in `gone` and its CPU is lost, one that starts inside it is
    not counted. Each process's CPU is its threads' (threads_cpu_ns: a thread that ends inside the
    block takes its CPU with it, one that starts is counted whole), else, where the kernel does not
    count them, its user + system time in clock ticks (10 ms). `ticks_by_role`: the clock-tick
    figures, for comparison; `by_thread`: {role: {thread name: CPU seconds}} (thread_name)."""

    def __init__(self, root: int, roles: frozenset[str] = DELIVERY_ROLES) -> None:
        self.root = root
        self.roles = roles
        self.first: dict[int, tuple[psutil.Process, str, float, dict[int, int] | None]] = {}
        self.by_role: dict[str, float] = {}
        self.ticks_by_role: dict[str, float] = {}
        self.by_thread: dict[str, dict[str, float]] = {}
        self.gone: list[str] = []

    def __enter__(self) -> RoleCpu:
        import psutil

        self.first = {}
        for p in process_tree(psutil.Process(self.root)):
            role = INGRESS if p.pid == self.root else process_role(p)
            if role in self.roles and (cpu := process_cpu(p)) is not None:
                self.first[p.pid] = (p, role, cpu, threads_cpu_ns(p.pid))
        return self

    def __exit__(self, *exc: object) -> None:
        self.by_role, self.ticks_by_role, self.by_thread, self.gone = {}, {}, {}, []
        for p, role, was, threads in self.first.values():
            now, threads_now = process_cpu(p), threads_cpu_ns(p.pid)
            if now is None:
                self.gone.append(role)
                continue
            ticks = now - was
            exact = None
            if threads is not None and threads_now is not None:
                names = self.by_thread.setdefault(role, {})
                for tid, ns in threads_now.items():
                    name = thread_name(p.pid, tid)
                    names[name] = names.get(name, 0.0) + (ns - threads.get(tid, 0)) / 1e9
                exact = sum(ns - threads.get(tid, 0) for tid, ns in threads_now.items()) / 1e9
            self.ticks_by_role[role] = self.ticks_by_role.get(role, 0.0) + ticks
            self.by_role[role] = self.by_role.get(role, 0.0) + (ticks if exact is None else exact)

    @property
    def seconds(self) -> float:
        """All the counted processes' CPU seconds in the block."""
        return sum(self.by_role.values())


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


def run_alone(
    doc: str | None,
    out_name: str,
    hub_env: dict[str, str],
    measure: Callable[[str, int, bool], dict[str, Any]],
    write: Callable[[dict[str, Any], Path], None],
) -> None:
    """A workload's own command line (`python bench/<name>.py [--quick] [--out PATH]`): its own hub
    (`hub_server(**hub_env)`), `measure(base_url, hub_pid, quick)`, then `write(result, out)`; the report
    goes to bench/results/`out_name` unless --out says otherwise. `doc`: the module's docstring (--help)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / out_name)
    args = parser.parse_args()
    with hub_server(**hub_env) as (base, hub):
        result = measure(base, hub.pid, args.quick)
    write(result, args.out)
