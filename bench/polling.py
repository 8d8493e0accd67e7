"""The polling baseline against the hub's stream, same jobs, same run.

J jobs of a kind that runs ~T seconds and reports progress twice a second; C clients per job
watch them either over the hub's WebSocket (streaming) or by polling `GET /api/jobs/{jobId}`
every second, as the web app did. Reported: HTTP requests, server CPU seconds per delivered update
(the hub's long-lived processes: ingress, registry shards, job store, Ray's daemons; the jobs'
own monitors and tasks do the same work whoever watches), and status changes missed.

    python bench/polling.py --quick        # 5 jobs x 5 clients, 4 s jobs
    python bench/polling.py                # 20 jobs x 10 clients, 20 s jobs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.clients import open_hub  # noqa: E402
from bench.common import RESULTS, SECRET, TreeCpu, hub_server, register_kinds, report  # noqa: E402

STATUSES = ("queued", "processing", "completed")
WINDOW_MARGIN = 4.0  # seconds past the jobs' own length, at least, in every measuring window


def paced(ctx: Any, params: Any) -> dict[str, int]:
    """The benchmark's job kind: `seconds` of work, progress twice a second."""
    steps = int(params.seconds * 2)
    for i in range(steps):
        ctx.progress(100 * i / steps, f"Step {i + 1} of {steps}")
        time.sleep(0.5)
    return {"steps": steps}


async def stream_watch(
    base: str,
    token: str,
    job_ids: set[str],
    seen: dict[str, list[str]],
    done_at: dict[str, float],
    counts: list[int],
    opened: asyncio.Event,
) -> None:
    """Watch the educator's stream until every job in `job_ids` (filled in after connecting) ends."""
    ws = await open_hub(base.replace("http", "ws", 1) + "/ws", token)
    opened.set()
    try:
        while not job_ids or any(j not in done_at for j in job_ids):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            for m in frame.get("messages", []):
                job = m["data"].get("jobId")
                if job is None:
                    continue  # analytics: not a job update
                counts[0] += 1
                statuses = seen.setdefault(job, [])
                if not statuses or statuses[-1] != m["data"]["status"]:
                    statuses.append(m["data"]["status"])
                if m["data"]["status"] == "completed":
                    done_at.setdefault(job, time.time())
    finally:
        await ws.close()


async def poll_watch(http: httpx.AsyncClient, job_id: str, seen: list[str], counts: list[int]) -> None:
    last: dict[str, Any] | None = None
    while True:
        reply = (await http.get(f"/api/jobs/{job_id}")).json()
        counts[1] += 1
        if reply != last:
            counts[0] += 1  # a poll that carried something new
            last = reply
        if not seen or seen[-1] != reply["status"]:
            seen.append(reply["status"])
        if reply["status"] == "completed":
            await http.aclose()
            return
        await asyncio.sleep(1.0)


async def run_mode(
    mode: str, base: str, hub_pid: int, tokens: list[str], clients: int, seconds: float, window: float | None = None
) -> dict[str, Any]:
    """One job per educator token, `clients` watchers per job, watching by `mode`, measured over
    `window` seconds (None: until the jobs end, and at least their length plus WINDOW_MARGIN).
    CPU: the hub's long-lived processes (bench.common.TreeCpu)."""
    counts = [0, 0]  # updates delivered, HTTP requests
    seen_lists: list[list[str]] = []
    tasks: list[asyncio.Task[Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        with TreeCpu(hub_pid) as meter:
            began = time.monotonic()
            for token in tokens:
                headers = {"Authorization": f"Bearer {token}"}
                if mode == "stream":  # watchers connect first, as pages do, then the job starts
                    seen_maps: list[dict[str, list[str]]] = [{} for _ in range(clients)]
                    done: list[dict[str, float]] = [{} for _ in range(clients)]
                    ids: set[str] = set()
                    opened = [asyncio.Event() for _ in range(clients)]
                    watchers = [
                        asyncio.create_task(stream_watch(base, token, ids, seen_maps[k], done[k], counts, opened[k]))
                        for k in range(clients)
                    ]
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 60)
                reply = await http.post(
                    "/api/jobs", headers=headers, json={"kind": "bench_paced", "params": {"seconds": seconds}}
                )
                job = reply.json()["jobId"]
                if mode == "stream":
                    ids.add(job)
                    tasks += watchers
                    seen_lists += [m.setdefault(job, []) for m in seen_maps]
                elif mode == "jobs only":
                    continue
                else:
                    for _ in range(clients):
                        seen: list[str] = []
                        seen_lists.append(seen)
                        poller = httpx.AsyncClient(base_url=base, headers=headers, timeout=60)
                        tasks.append(asyncio.create_task(poll_watch(poller, job, seen, counts)))
            await asyncio.gather(*tasks)
            took = time.monotonic() - began
            if window is None:  # the first mode sets the window every mode is measured over...
                window = max(seconds + WINDOW_MARGIN, 1.3 * took + 1.0)
            elif took > window:  # ...unless its jobs overran it (a busy machine): the report says so
                window = took + 1.0
            await asyncio.sleep(window - took)
    cpu = meter.seconds
    roles = meter.by_role()
    missed = sum(len(STATUSES) - len([s for s in seen if s in STATUSES]) for seen in seen_lists)
    return {
        "mode": mode,
        "updates": counts[0],
        "requests": counts[1],
        "cpu": cpu,
        "cpu_by_role": roles,
        "missed": missed,
        "watchers": len(tokens) * clients,
        "window": window,
    }


def measure(base: str, hub_pid: int, jobs: int, clients: int, seconds: float) -> list[dict[str, Any]]:
    from hub.auth import issue_token
    from jobs.kinds import AnyParams

    register_kinds(base, hub_pid, {"bench_paced": (paced, AnyParams)})
    time.sleep(2)  # what ran before settles (job monitors exiting)
    rows: dict[str, dict[str, Any]] = {}
    window = None  # the stream's run (watchers connect before each job: the slowest) sets it
    for mode in ("stream", "jobs only", "poll"):
        tokens = [issue_token(SECRET, f"{mode[:4]}-{i}", ttl=3600, now=time.time()) for i in range(jobs)]
        rows[mode] = asyncio.run(run_mode(mode, base, hub_pid, tokens, clients, seconds, window))
        window = rows[mode]["window"]
        time.sleep(1)
    return [rows["jobs only"], rows["stream"], rows["poll"]]


def write(rows: list[dict[str, Any]], jobs: int, clients: int, seconds: float, out: Path) -> None:
    base_cpu, stream, poll = rows
    for r in rows:  # what delivering cost: the window's CPU less the same jobs' with nobody watching
        r["delivery_cpu"] = max(0.0, r["cpu"] - base_cpu["cpu"])
    per = {r["mode"]: r["delivery_cpu"] / max(1, r["updates"]) for r in rows}
    ratio = per["poll"] / max(per["stream"], 1e-9)
    comparable = len({r["window"] for r in rows}) == 1
    lines = [
        f"# Streaming vs polling ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {jobs} jobs of "
        f"{seconds:g} s x {clients} watchers each, measured over {rows[0]['window']:.1f} s windows)",
        "",
        "| mode | watchers | updates delivered | HTTP requests | hub CPU s in the window | of it for delivery | "
        "delivery CPU ms per update | status changes missed |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['mode']} | {r['watchers'] if r['mode'] != 'jobs only' else 0} | {r['updates']:,} | "
            f"{r['requests']:,} | {r['cpu']:.2f} | {r['delivery_cpu']:.2f} | {1000 * per[r['mode']]:.2f} | "
            f"{r['missed'] if r['mode'] != 'jobs only' else '-'} |"
            for r in rows
        ),
        "",
        f"- delivery CPU per update, polling / stream: **{ratio:.1f} x** (target >= 10)",
        f"- missed status changes: stream {stream['missed']}, polling {poll['missed']}",
        "",
    ]
    split = {
        mode: {
            role: r["cpu_by_role"].get(role, 0.0) - base_cpu["cpu_by_role"].get(role, 0.0)
            for role in sorted(set(r["cpu_by_role"]) | set(base_cpu["cpu_by_role"]))
        }
        for mode, r in (("stream", stream), ("poll", poll))
    }
    for mode, roles in split.items():
        shown = ", ".join(f"{role} {1000 * sec:+.0f}" for role, sec in sorted(roles.items(), key=lambda x: -abs(x[1])))
        lines.insert(-1, f"- {mode}'s delivery CPU by process, ms over jobs only: {shown}")
    if not comparable:
        windows = ", ".join(f"{r['mode']} {r['window']:.1f} s" for r in rows)
        lines[-1:-1] = [f"- **not comparable**: the jobs overran the window on this busy machine ({windows})"]
    figures = {"jobs": jobs, "clients": clients, "seconds": seconds, "rows": rows, "comparable": comparable}
    report(lines, out, {**figures, "cpu_ms_per_update": {m: 1000 * v for m, v in per.items()}, "ratio": ratio})


def sizes(quick: bool) -> tuple[int, int, float]:
    return (5, 5, 4.0) if quick else (20, 10, 20.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "polling.md")
    args = parser.parse_args()
    jobs, clients, seconds = sizes(args.quick)
    with hub_server() as (base, hub):
        rows = measure(base, hub.pid, jobs, clients, seconds)
    write(rows, jobs, clients, seconds, args.out)


if __name__ == "__main__":
    main()
