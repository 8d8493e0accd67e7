"""The polling baseline against the hub's stream, same jobs, same run.

J jobs of a kind that runs ~T seconds and reports progress twice a second; C clients per job
watch them either over the hub's WebSocket (streaming) or by polling `GET /api/jobs/{jobId}`
every second, as the web app did. Reported: HTTP requests, server CPU seconds (every hub and Ray
process) per delivered update, latency of the `completed` status, and status changes missed.

    python bench/polling.py --quick        # 10 jobs x 5 clients, 8 s jobs
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
from bench.common import ROOT, SECRET, hub_server, report  # noqa: E402

STATUSES = ("queued", "processing", "completed")
WINDOW_MARGIN = 10.0  # seconds past the jobs' own length in every measuring window


def hub_cpu_seconds() -> float:
    """CPU of every hub and Ray process on this machine (the bench's own processes excluded)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if b"hub serve" not in cmd and b"ray" not in cmd:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        except (OSError, IndexError):
            continue
    return total


def paced(ctx: Any, params: Any) -> dict[str, int]:
    """The benchmark's job kind: `seconds` of work, progress twice a second."""
    steps = int(params.seconds * 2)
    for i in range(steps):
        ctx.progress(100 * i / steps, f"Step {i + 1} of {steps}")
        time.sleep(0.5)
    return {"steps": steps}


async def stream_watch(
    base: str, token: str, job_ids: set[str], seen: dict[str, list[str]], done_at: dict[str, float], counts: list[int]
) -> None:
    """Watch the educator's stream until every job in `job_ids` (filled in after connecting) ends."""
    from websockets.asyncio.client import connect

    async with connect(base.replace("http", "ws", 1) + "/ws", compression="deflate") as ws:
        await ws.send(json.dumps({"op": "hello", "token": token}))
        await ws.recv()
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


async def run_mode(mode: str, base: str, tokens: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """One job per educator token, `clients` watchers per job, watching by `mode`."""
    counts = [0, 0]  # updates delivered, HTTP requests
    seen_lists: list[list[str]] = []
    tasks: list[asyncio.Task[Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        cpu0 = hub_cpu_seconds()
        window_end = time.monotonic() + seconds + WINDOW_MARGIN
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            if mode == "stream":  # watchers connect first, as pages do, then the job starts
                seen_maps: list[dict[str, list[str]]] = [{} for _ in range(clients)]
                done: list[dict[str, float]] = [{} for _ in range(clients)]
                ids: set[str] = set()
                watchers = [
                    asyncio.create_task(stream_watch(base, token, ids, seen_maps[k], done[k], counts))
                    for k in range(clients)
                ]
                await asyncio.sleep(0.3)
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
        left = window_end - time.monotonic()
        assert left > 0, "the jobs took longer than the measuring window: raise WINDOW_MARGIN"
        await asyncio.sleep(left)  # every mode is measured over the same window
        cpu = hub_cpu_seconds() - cpu0
    missed = sum(len(STATUSES) - len([s for s in seen if s in STATUSES]) for seen in seen_lists)
    return {
        "mode": mode,
        "updates": counts[0],
        "requests": counts[1],
        "cpu": cpu,
        "missed": missed,
        "watchers": len(tokens) * clients,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "polling.md")
    args = parser.parse_args()
    jobs, clients, seconds = (10, 5, 8.0) if args.quick else (20, 10, 20.0)

    from hub.auth import issue_token

    with hub_server(HUB_NAMESPACE="hub-bench") as (base, _):
        import ray

        from jobs import connect
        from jobs.kinds import AnyParams

        nb = connect(base, issue_token(SECRET, "bench-admin", now=time.time()), namespace="hub-bench")
        nb.register_kind("bench_paced", paced, AnyParams)
        nb.close()
        ray.shutdown()  # registering joined the hub's Ray; leave before the hub stops
        rows = []
        for mode in ("jobs only", "stream", "poll"):
            tokens = [issue_token(SECRET, f"{mode[:4]}-{i}", ttl=3600, now=time.time()) for i in range(jobs)]
            rows.append(asyncio.run(run_mode(mode, base, tokens, clients, seconds)))
            time.sleep(2)

    base_cpu, stream, poll = rows
    for r in rows:  # what delivering cost: the window's CPU less the same jobs' with nobody watching
        r["delivery_cpu"] = max(0.0, r["cpu"] - base_cpu["cpu"])
    per = {r["mode"]: r["delivery_cpu"] / max(1, r["updates"]) for r in rows}
    lines = [
        f"# Streaming vs polling ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {jobs} jobs of "
        f"{seconds:g} s x {clients} watchers each)",
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
        f"- delivery CPU per update, polling / stream: **{per['poll'] / max(per['stream'], 1e-9):.1f} x** "
        "(target >= 10)",
        f"- missed status changes: stream {stream['missed']}, polling {poll['missed']}",
        "",
    ]
    report(lines, args.out)


if __name__ == "__main__":
    main()
