"""Task -> monitor progress (issue 15, item 3): what a job's Ray task reporting progress to its
job's monitor costs, by the ways it could, on one local Ray: latency (the task stamping a message
to the monitor's event loop having it) and CPU of both processes (the task's worker and the
monitor's actor, user + system, every thread, Ray's included) per message, same run.

Rows (the monitor is an async Ray actor, as a JobMonitor is; the task a plain Ray task, num_cpus=0):

- `gen`: today's way: the task is a streaming generator (`yield`), the monitor `await`s each ref
  (`async for ref in task.remote(...)`: item = await ref), as jobs/quiz_job.py and document_job.py do;
- `call`: the task calls a method of the monitor actor per message, fire and forget
  (`monitor.report.remote(message)`), the monitor's handle passed to the task;
- `ws`: a direct socket: the monitor serves the websockets library on 127.0.0.1 (binary frames, no
  compression, msgpack), the task connects with the synchronous client (`websockets.sync.client`)
  and a token in its Authorization header checked before the upgrade, and sends one frame per message;
  the connection's set-up (connect + handshake + check) is measured apart, per task;
- `wss`: the same over TLS (a self-signed P-256 certificate made at run time, the task trusting
  exactly it), as a task on another node than its monitor's connects;
- `idle`: the same two processes doing nothing for as long as a row lasts (the `call` row with only
  its first and last message): the floor under every row, per message.

Each row starts a fresh task; the window is from the monitor having message 0 to it having the
last one, so CPU per message is the two processes' CPU over it divided by the messages after the first.
`--gap 0.1` (default): lone messages 100 ms apart (a job reporting 10 times a second); `--gap 0`:
back to back (latency is then the backlog, not the channel). CPU is read from /proc in 10 ms clock
ticks: use enough messages (>= 100 lone, >= 2000 back to back).

    python bench/task_progress.py [--messages 100] [--gap 0.1 [0 ...]] [--runs 2] [--rows idle gen call ws wss]

Figures and what they led to: docs/benchmarks.md, "Task -> monitor".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import cpu_seconds, init_local_ray, self_signed_tls  # noqa: E402

GEN, CALL, WS, WSS, IDLE = "gen", "call", "ws", "wss", "idle"
ROWS = (IDLE, GEN, CALL, WS, WSS)
LABELS = {
    IDLE: "idle: nothing sent, same window",
    GEN: "streaming generator item (before)",
    CALL: "actor call, fire and forget",
    WS: "websockets frame, msgpack, loopback",
    WSS: "websockets frame, msgpack, TLS",
}
TOKEN = "bench-task-progress-token"


def messages(count: int, gap: float) -> Iterator[tuple[int, float]]:
    """(seq, time stamped) for `count` messages `gap` seconds apart, stamped just before each goes."""
    for seq in range(count):
        if seq and gap:
            time.sleep(gap)
        yield seq, time.time()


def gen_task(count: int, gap: float) -> Iterator[Any]:
    """The streaming generator row's task: yields its pid, then the messages."""
    yield ("hello", os.getpid(), 0.0, 0.0)
    time.sleep(0.2)
    yield from messages(count, gap)


def call_task(monitor: Any, count: int, gap: float, idle: bool) -> None:
    """The actor call row's task (and the idle row's: only the first and last message). Before it
    returns it waits for its last call to have run, as jobs.tasklink.Reporter.close does (a run of
    this row without it once never saw its last message arrive)."""
    import ray

    monitor.report.remote(("hello", os.getpid(), 0.0, 0.0))
    time.sleep(0.2)
    if idle:
        monitor.report.remote((0, time.time()))
        time.sleep(gap * (count - 1))
        ray.get(monitor.report.remote((count - 1, time.time())))
        return
    last = None
    for seq, stamp in messages(count, gap):
        last = monitor.report.remote((seq, stamp))
    ray.get(last)


def ws_task(port: int, count: int, gap: float, cert: str | None) -> None:
    """The websockets rows' task: connect (timed: wall and this process's CPU; TLS trusting `cert`,
    a PEM path, if given), then the messages."""
    import ssl

    from websockets.sync.client import connect

    t0, c0 = time.perf_counter(), time.process_time()
    context = None
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cert)
    scheme = "wss" if cert else "ws"
    ws = connect(
        f"{scheme}://127.0.0.1:{port}",
        additional_headers={"Authorization": f"Bearer {TOKEN}"},
        compression=None,
        ssl=context,
    )
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    with ws:
        ws.send(msgpack.packb(("hello", os.getpid(), took, cpu)))
        time.sleep(0.2)
        for seq, stamp in messages(count, gap):
            ws.send(msgpack.packb((seq, stamp)))


def make_monitor() -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class Monitor:
        """An async actor standing for a job's monitor: takes each row's messages on its event loop."""

        def __init__(self) -> None:
            self.reset(0)

        def reset(self, count: int) -> None:
            self.count = count
            self.latencies: list[float] = []
            self.task_pid = 0
            self.connect = (0.0, 0.0)
            self.start: tuple[float, float, float] | None = None
            self.end: tuple[float, float, float] | None = None
            self.done = asyncio.Event()

        def _on(self, message: Any) -> None:
            now = time.time()
            if message[0] == "hello":
                self.task_pid, self.connect = int(message[1]), (float(message[2]), float(message[3]))
                return
            seq, stamp = message
            self.latencies.append(now - stamp)
            if seq == 0:
                self.start = (now, cpu_seconds(os.getpid()), cpu_seconds(self.task_pid))
            if seq == self.count - 1:
                self.end = (time.time(), cpu_seconds(os.getpid()), cpu_seconds(self.task_pid))
                self.done.set()

        async def report(self, message: Any) -> None:
            self._on(message)

        async def serve_ws(self, tls: tuple[str, str] | None) -> int:
            import ssl
            from http import HTTPStatus

            from websockets.asyncio.server import ServerConnection, serve
            from websockets.http11 import Request, Response

            def check(connection: ServerConnection, request: Request) -> Response | None:
                if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return connection.respond(HTTPStatus.UNAUTHORIZED, "A valid token is required.\n")
                return None

            async def handler(ws: ServerConnection) -> None:
                async for frame in ws:
                    self._on(msgpack.unpackb(frame))

            context = None
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*tls)
            self.server = await serve(handler, "127.0.0.1", 0, process_request=check, compression=None, ssl=context)
            return int(self.server.sockets[0].getsockname()[1])

        async def run(self, row: str, count: int, gap: float) -> dict[str, Any]:
            """Start the row's task and take its `count` messages; returns the window's figures."""
            self.reset(count)
            opts = {"num_cpus": 0, "max_retries": 0}
            if row == GEN:
                async for ref in ray.remote(**opts)(gen_task).options(num_returns="streaming").remote(count, gap):
                    self._on(await ref)
            else:
                if row in (WS, WSS):
                    # The row's certificate and key: removed once the row is over.
                    folder = tempfile.mkdtemp()
                    tls = self_signed_tls(folder) if row == WSS else None
                    port = await self.serve_ws((str(tls[0]), str(tls[1])) if tls else None)
                    task = ray.remote(**opts)(ws_task).remote(port, count, gap, str(tls[0]) if tls else None)
                else:
                    me = ray.get_runtime_context().current_actor
                    task = ray.remote(**opts)(call_task).remote(me, count, gap, row == IDLE)
                done = asyncio.ensure_future(self.done.wait())
                await asyncio.wait([done, asyncio.ensure_future(task)], return_when=asyncio.FIRST_COMPLETED)
                await task  # what the task raised comes out here
                await asyncio.wait_for(done, 30)
                if row in (WS, WSS):
                    self.server.close()
                    await self.server.wait_closed()
                    shutil.rmtree(folder, ignore_errors=True)
            assert self.start and self.end, f"{row}: the window did not close"
            return {
                "seconds": self.end[0] - self.start[0],
                "monitor_cpu": self.end[1] - self.start[1],
                "task_cpu": self.end[2] - self.start[2],
                "latencies": self.latencies[1:] if row != IDLE else [],
                "connect": self.connect,
            }

    return Monitor.remote()  # type: ignore[attr-defined]


def measure(count: int, gaps: list[float], runs: int, rows: tuple[str, ...]) -> list[tuple[int, float, str, Any]]:
    """Every row at every gap, `runs` rounds (rows alternating within a round), on one local Ray
    (2 CPUs) with one monitor actor; returns (round, gap, row, the monitor's figures) in order."""
    import ray

    init_local_ray()
    try:
        monitor = make_monitor()
        results = []
        for round_ in range(1, runs + 1):
            for gap in gaps:
                for row in rows:
                    results.append((round_, gap, row, ray.get(monitor.run.remote(row, count, gap))))
        return results
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--gap", type=float, nargs="+", default=[0.1], help="seconds between messages (0.1)")
    parser.add_argument("--runs", type=int, default=1, help="rounds of all rows, alternating")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    args = parser.parse_args()
    n = args.messages
    print(f"{n} messages a row, {os.cpu_count()} cores\n")
    print(
        "| run | gap ms | channel | task CPU us/msg | monitor CPU us/msg | total us/msg | x gen "
        "| latency p50 ms | p99 ms | connect ms (task CPU ms) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    results = measure(n, args.gap, args.runs, tuple(args.rows))
    per = n - 1
    gens = {(r, g): 1e6 * (f["task_cpu"] + f["monitor_cpu"]) / per for r, g, row, f in results if row == GEN}
    for round_, gap, row, f in results:
        total = 1e6 * (f["task_cpu"] + f["monitor_cpu"]) / per
        ratio = total / gens[round_, gap] if (round_, gap) in gens else float("nan")
        lat = f["latencies"]
        latency = (
            "- | -"
            if not lat
            else f"{1e3 * statistics.median(lat):.2f} | {1e3 * statistics.quantiles(lat, n=100)[98]:.2f}"
        )
        connect = f"{1e3 * f['connect'][0]:.1f} ({1e3 * f['connect'][1]:.1f})" if row in (WS, WSS) else "-"
        print(
            f"| {round_} | {1e3 * gap:g} | {LABELS[row]} | {1e6 * f['task_cpu'] / per:.0f} | "
            f"{1e6 * f['monitor_cpu'] / per:.0f} | {total:.0f} | {ratio:.2f} | {latency} | {connect} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
