"""The polling baseline against the hub's stream: the same people watching the same jobs for the same time.

J jobs of a kind that reports progress twice a second run through the whole measurement (they are
started first, measured only once every one is `processing`, and cancelled at the end). Then fixed
windows of W seconds, every one under that same job load, take turns: nobody watching ("jobs
only"), C watchers per job on the hub's WebSocket ("stream"), C watchers per job polling
`GET /api/jobs/{jobId}` once a second as the web app did ("poll"). The order runs forwards then
backwards (jobs only, stream, poll, poll, stream, jobs only, ...) so a drift in the machine's load
falls on every mode alike. Watchers connect before their window and leave after it, with a pause
either side: a window holds steady-state delivery only (what connecting costs is reported apart).

CPU is that of the delivery side's processes (bench.common.RoleCpu, DELIVERY_ROLES): the `hub serve`
process (ingress and the hub's Ray driver), the registry shards, the job store and Ray's daemons.
The jobs' monitors and tasks are not counted: they do the same work whoever watches. A mode's
delivery CPU is its windows' CPU less the "jobs only" windows' (same length, same jobs). Reported
per mode: delivery CPU, updates delivered (stream: job messages received; poll: replies that
differed from the poller's previous one), CPU per update, requests made, the split by process; and
the ratios poll / stream per update and raw (the same watchers, jobs and time).

    python bench/polling.py --quick        # 10 jobs x 5 watchers, 4 windows of 5 s per mode (about 2 minutes)
    python bench/polling.py                # 20 jobs x 10 watchers, 4 windows of 10 s per mode
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.clients import open_hub  # noqa: E402
from bench.common import INGRESS, RESULTS, SECRET, RoleCpu, hub_server, register_kinds, report  # noqa: E402

MODES = ("jobs only", "stream", "poll")
# Each mode's windows: the order runs forwards then backwards, ROUNDS times in all. The machine's
# speed drifts by 10 to 20 % within a minute (every process's CPU for the same work, the Ray daemons'
# too): short windows taking turns spread it over every mode (three runs of 2 rounds of 8 s: 5.6,
# 7.8, 7.5 x; of 4 rounds of 5 s: 7.5, 8.2, 8.4 x and, later, 7.0, 7.1, 6.7 x; docs/benchmarks.md).
ROUNDS = 4
SETTLE = 0.5  # seconds between a mode's set-up or tear-down and a window
WARM = 12.0  # seconds from every job `processing` to the first window: Ray settles after the jobs' start
POLL_EVERY = 1.0  # seconds between one watcher's polls, as the web app polled
TICKS_PER_SECOND = 2  # the job kind's progress calls a second (paced)
KEPT_UP = 0.9  # a mode whose watchers got less than this share of what they should have fell behind


def paced(ctx: Any, params: Any) -> dict[str, int]:
    """The benchmark's job kind: progress twice a second for `seconds`, or until cancelled."""
    steps = int(params.seconds * TICKS_PER_SECOND)
    for i in range(steps):
        if ctx.cancelled:
            break
        ctx.progress(100 * i / steps, f"Step {i + 1} of {steps}")
        time.sleep(1 / TICKS_PER_SECOND)
    return {"steps": steps}


@dataclass
class Tally:
    """What the watchers received while `counting` (inside a window)."""

    counting: bool = False
    updates: int = 0  # job updates received (stream) or polls that carried something new (poll)
    requests: int = 0  # HTTP requests answered (poll)
    frames: int = 0  # WebSocket frames received (stream)
    statuses: set[str] = field(default_factory=set)  # job statuses seen


def order(rounds: int) -> list[str]:
    """The windows' modes: MODES forwards then backwards, `rounds` times each (ABC CBA ABC ...)."""
    return [m for r in range(rounds) for m in (MODES if r % 2 == 0 else MODES[::-1])]


async def read_stream(ws: Any, tally: Tally) -> None:
    """Count the job updates (messages with a jobId) arriving on `ws` while the tally counts."""
    async for raw in ws:
        frame = json.loads(raw)
        if not tally.counting:
            continue
        tally.frames += 1
        for m in frame.get("messages", []):
            job = m.get("data", {}).get("jobId")
            if job is not None:
                tally.updates += 1
                tally.statuses.add(m["data"].get("status"))


async def poll(http: httpx.AsyncClient, job_id: str, start: float, tally: Tally) -> None:
    """GET the job every POLL_EVERY seconds from `start` (loop time) on, skipping slots it fell behind."""
    loop = asyncio.get_running_loop()
    last: Any = None
    slot = 0
    while True:
        await asyncio.sleep(max(0.0, start + slot * POLL_EVERY - loop.time()))
        reply = (await http.get(f"/api/jobs/{job_id}")).json()
        if tally.counting:
            tally.requests += 1
            tally.updates += reply != last
            tally.statuses.add(reply.get("status"))
        last = reply
        slot = max(slot + 1, int((loop.time() - start) / POLL_EVERY) + 1)


class Watchers:
    """C watchers of each job in one mode, set up before a window and torn down after it."""

    def __init__(self, mode: str, base: str, jobs: dict[str, str], clients: int) -> None:
        self.mode, self.base, self.jobs, self.clients = mode, base, jobs, clients
        self.tally = Tally()
        self.tasks: list[asyncio.Task[None]] = []
        self.closers: list[Any] = []

    async def start(self) -> None:
        """Connect every watcher (stream: past its welcome; poll: its first request answered)."""
        if self.mode == "stream":
            url = self.base.replace("http", "ws", 1) + "/ws"
            sockets = await asyncio.gather(
                *(open_hub(url, token) for token in self.jobs.values() for _ in range(self.clients))
            )
            for ws in sockets:
                self.closers.append(ws.close)
                self.tasks.append(asyncio.create_task(read_stream(ws, self.tally)))
        elif self.mode == "poll":  # spread evenly over the second, as independent pages would be
            now, n = asyncio.get_running_loop().time(), len(self.jobs) * self.clients
            for k, (job, token) in enumerate((j, t) for j, t in self.jobs.items() for _ in range(self.clients)):
                http = httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
                self.closers.append(http.aclose)
                self.tasks.append(asyncio.create_task(poll(http, job, now + k * POLL_EVERY / n, self.tally)))
            await asyncio.sleep(POLL_EVERY)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(close() for close in self.closers), return_exceptions=True)


async def shard_pulls(base: str) -> float:
    """The ingress's long-poll round trips to the shards so far (`hub_longpoll_cycle_seconds_count` at
    /metrics, summed over shards): one Ray call each, carrying one message or a batch."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        text = (await http.get("/metrics")).text
    counts = (
        line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith("hub_longpoll_cycle_seconds_count")
    )
    return sum(float(n) for n in counts)


async def windows(base: str, hub_pid: int, jobs: dict[str, str], clients: int, window: float, rounds: int) -> Any:
    """Measure each window of `order(rounds)`; returns ([one dict per window], stream set-up figures)."""
    rows = []
    setup: dict[str, Any] = {}
    for mode in order(rounds):
        watchers = Watchers(mode, base, jobs, clients)
        began = time.monotonic()
        with RoleCpu(hub_pid) as connecting:
            await watchers.start()
        if mode == "stream" and not setup:
            setup = {"cpu_by_role": connecting.by_role, "seconds": time.monotonic() - began}
        await asyncio.sleep(SETTLE)
        pulls = await shard_pulls(base)
        with RoleCpu(hub_pid) as meter:
            watchers.tally.counting = True
            began = time.monotonic()
            await asyncio.sleep(window)
            took = time.monotonic() - began
            watchers.tally.counting = False
        pulls = await shard_pulls(base) - pulls
        await watchers.stop()
        t = watchers.tally
        rows.append(
            {
                "mode": mode,
                "window": took,
                "cpu": meter.seconds,
                "cpu_by_role": meter.by_role,
                "ticks_by_role": meter.ticks_by_role,
                "cpu_by_thread": meter.by_thread,
                "gone": meter.gone,
                "updates": t.updates,
                "requests": t.requests,
                "frames": t.frames,
                "pulls": pulls,
                "statuses": sorted(s for s in t.statuses if s),
            }
        )
        print(f"  {mode}: {meter.seconds:.2f} CPU s, {t.updates} updates, {t.requests} requests", flush=True)
        await asyncio.sleep(SETTLE)
    return rows, setup


async def job_states(base: str, jobs: dict[str, str]) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.get(f"/api/jobs/{job}", headers={"Authorization": f"Bearer {t}"}) for job, t in jobs.items())
        )
    return {job: r.json()["status"] for job, r in zip(jobs, replies, strict=True)}


async def run(base: str, hub_pid: int, jobs: int, clients: int, window: float, rounds: int) -> dict[str, Any]:
    """Start the jobs, wait until all are `processing`, measure the windows, check that every job was
    still `processing` after them, cancel the jobs."""
    from hub.auth import issue_token

    tokens = [issue_token(SECRET, f"poll-{i}", ttl=3600, now=time.time()) for i in range(jobs)]
    length = 4 * len(order(rounds)) * (window + 3 * SETTLE + 2) + 120  # outlives the windows; cancelled after
    running: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for token in tokens:
            reply = await http.post(
                "/api/jobs",
                headers={"Authorization": f"Bearer {token}"},
                json={"kind": "bench_paced", "params": {"seconds": length}},
            )
            reply.raise_for_status()
            running[reply.json()["jobId"]] = token
    deadline = time.monotonic() + 60 + 5 * jobs
    while set((states := await job_states(base, running)).values()) != {"processing"}:
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs not all processing: {states}")
        await asyncio.sleep(0.5)
    # For some 15 s after the monitors start, the shards, the job store and the GCS spend 10 to 20 %
    # more than later at the same load (seven "jobs only" windows in a row, 2026-11-30): no window then.
    await asyncio.sleep(WARM)
    load = os.getloadavg()[0]
    rows, setup = await windows(base, hub_pid, running, clients, window, rounds)
    after = await job_states(base, running)
    loads = [load, os.getloadavg()[0]]
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for job, token in running.items():
            await http.post(f"/api/jobs/{job}/cancel", headers={"Authorization": f"Bearer {token}"})
    return {"windows": rows, "setup": setup, "after": after, "rounds": rounds, "load_average": loads}


def measure(base: str, hub_pid: int, jobs: int, clients: int, window: float, rounds: int = ROUNDS) -> dict[str, Any]:
    """Register the job kind on the hub at `base` (its `hub serve` process `hub_pid`) and run the
    windows: `jobs` jobs, `clients` watchers each, `rounds` windows of `window` seconds per mode."""
    from jobs.kinds import AnyParams

    register_kinds(base, hub_pid, {"bench_paced": (paced, AnyParams)})
    return asyncio.run(run(base, hub_pid, jobs, clients, window, rounds))


def summarise(result: dict[str, Any], jobs: int, clients: int) -> dict[str, Any]:
    """Each mode's windows added up, its delivery CPU (less the "jobs only" windows'), per update,
    by process, and the ratios; the figures the report and the chart show."""
    rows: dict[str, dict[str, Any]] = {}
    for w in result["windows"]:
        row = rows.setdefault(
            w["mode"],
            {"mode": w["mode"], "windows": 0, "window": 0.0, "cpu": 0.0, "cpu_by_role": {}, "updates": 0}
            | {"requests": 0, "frames": 0, "pulls": 0, "watchers": 0 if w["mode"] == "jobs only" else jobs * clients},
        )
        row["windows"] += 1
        for key in ("window", "cpu", "updates", "requests", "frames", "pulls"):
            row[key] += w.get(key, 0)
        for role, cpu in w["cpu_by_role"].items():
            row["cpu_by_role"][role] = row["cpu_by_role"].get(role, 0.0) + cpu
        for role, names in w.get("cpu_by_thread", {}).items():
            threads = row.setdefault("cpu_by_thread", {}).setdefault(role, {})
            for name, cpu in names.items():
                threads[name] = threads.get(name, 0.0) + cpu
    base = rows["jobs only"]
    for r in rows.values():  # the same windows' length in every mode: scale only if one overran
        scale = r["window"] / base["window"]
        r["delivery_cpu"] = r["cpu"] - scale * base["cpu"]
        r["delivery_by_role"] = {
            role: r["cpu_by_role"].get(role, 0.0) - scale * base["cpu_by_role"].get(role, 0.0)
            for role in sorted(set(r["cpu_by_role"]) | set(base["cpu_by_role"]))
        }
        mine, theirs = r.get("cpu_by_thread", {}), base.get("cpu_by_thread", {})
        r["delivery_by_thread"] = {
            role: {
                name: mine.get(role, {}).get(name, 0.0) - scale * theirs.get(role, {}).get(name, 0.0)
                for name in sorted(set(mine.get(role, {})) | set(theirs.get(role, {})))
            }
            for role in sorted(set(mine) | set(theirs))
        }
    per = {m: 1000 * r["delivery_cpu"] / r["updates"] if r["updates"] else 0.0 for m, r in rows.items()}
    stream, polled = rows["stream"], rows["poll"]
    ratio = per["poll"] / per["stream"] if per["stream"] > 0 else float("nan")
    raw = polled["delivery_cpu"] / stream["delivery_cpu"] if stream["delivery_cpu"] > 0 else float("nan")
    due = {  # what the watchers should have received: every progress tick streamed, every poll answered
        "stream": jobs * clients * TICKS_PER_SECOND * stream["window"],
        "poll": jobs * clients * polled["window"] / POLL_EVERY,
    }
    behind = [m for m in due if rows[m]["updates" if m == "stream" else "requests"] < KEPT_UP * due[m]]
    lengths = [w["window"] for w in result["windows"]]
    steady = all(s == "processing" for s in result["after"].values()) and all(
        set(w["statuses"]) <= {"processing"} for w in result["windows"]
    )
    return {
        "rows": [rows[m] for m in MODES],
        "cpu_ms_per_update": per,
        "ratio": ratio,
        "raw_ratio": raw,
        "comparable": steady and not behind and max(lengths) - min(lengths) < 0.1 * min(lengths),
        "steady": steady,
        "behind": behind,
    }


def write(result: dict[str, Any], jobs: int, clients: int, window: float, out: Path) -> None:
    """The report (Markdown) and its figures (JSON) at `out`, from measure's result."""
    s = summarise(result, jobs, clients)
    rows, per = s["rows"], s["cpu_ms_per_update"]
    stream = rows[1]
    messages = stream["updates"] / clients  # job messages published, each delivered to `clients` watchers
    lines = [
        f"# Streaming vs polling ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {jobs} jobs "
        f"reporting progress twice a second x {clients} watchers each; {result['rounds']} windows of "
        f"{window:g} s per mode, taking turns)",
        "",
        "| mode | watchers | updates delivered | HTTP requests | delivery-side CPU s in the windows | "
        "less jobs only: delivery CPU s | delivery CPU ms per update |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['mode']} | {r['watchers']} | {r['updates']:,} | {r['requests']:,} | {r['cpu']:.2f} | "
            f"{r['delivery_cpu']:.2f} | {per[r['mode']]:.2f} |"
            for r in rows
        ),
        "",
        f"- delivery CPU per update, polling / stream: **{s['ratio']:.1f} x** (target >= 10)",
        f"- delivery CPU of the same watchers, jobs and time, polling / stream: **{s['raw_ratio']:.1f} x** "
        "(target >= 5)",
    ]
    for r in rows[1:]:
        shown = ", ".join(
            f"{role} {1000 * sec:+.0f}" for role, sec in sorted(r["delivery_by_role"].items(), key=lambda x: -abs(x[1]))
        )
        lines.append(f"- {r['mode']}'s delivery CPU by process, ms: {shown}")
    if messages:
        shown = ", ".join(
            f"{role} {1000 * sec / messages:.2f}"
            for role, sec in sorted(stream["delivery_by_role"].items(), key=lambda x: -x[1])
            if abs(sec) >= 0.005
        )
        lines.append(
            f"- stream, ms of delivery CPU per job message ({messages:.0f} messages, each to {clients} watchers, "
            f"in {stream['frames']:,} frames; the ingress pulled from the shards {stream['pulls']:,.0f} times, "
            f"{rows[0]['pulls']:,.0f} in the jobs-only windows): {shown}"
        )
    for role in (INGRESS, "registry shard"):  # thread names: bench.common.thread_name
        threads = sorted(((cpu, name) for name, cpu in stream.get("delivery_by_thread", {}).get(role, {}).items()))
        if messages and threads:
            top, rest = threads[::-1][:5], sum(cpu for cpu, _ in threads[::-1][5:])
            lines.append(
                f"- stream, {role}, ms per job message by thread name: "
                + ", ".join(f"{name} {1000 * cpu / messages:.2f}" for cpu, name in top)
                + f", other threads {1000 * rest / messages:.2f}"
            )
    setup = result["setup"]
    if setup:
        base = rows[0]
        idle = {r: c / base["window"] * setup["seconds"] for r, c in base["cpu_by_role"].items()}
        net = sum(setup["cpu_by_role"].values()) - sum(idle.values())
        lines.append(
            f"- connecting the stream's {stream['watchers']} watchers (handshake, hello, welcome with its "
            f"snapshot; outside the windows): {1000 * net / stream['watchers']:.1f} ms of delivery CPU each"
        )
    lines.append("- every window: " + ", ".join(f"{w['mode']} {w['cpu']:.2f} s" for w in result["windows"]))
    lines.append(
        "- load average (1 min) before and after the windows: " + ", ".join(f"{x:.1f}" for x in result["load_average"])
    )
    if not s["comparable"]:
        why = [
            *(["a job left `processing` during the windows"] if not s["steady"] else []),
            *(f"the {m} watchers fell behind (a busy machine)" for m in s["behind"]),
        ]
        lines.append("- **not comparable**: " + ("; ".join(why) or "the windows' lengths differ"))
    lines.append("")
    figures = {"jobs": jobs, "clients": clients, "seconds": window, **result, **s}
    report(lines, out, figures)


def sizes(quick: bool) -> tuple[int, int, float]:
    """(jobs, watchers per job, seconds per window)."""
    return (10, 5, 5.0) if quick else (20, 10, 10.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="windows per mode")
    parser.add_argument("--out", type=Path, default=RESULTS / "polling.md")
    args = parser.parse_args()
    jobs, clients, window = sizes(args.quick)
    with hub_server() as (base, hub):
        result = measure(base, hub.pid, jobs, clients, window, args.rounds)
    write(result, jobs, clients, window, args.out)


if __name__ == "__main__":
    main()
