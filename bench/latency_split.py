"""Where a light-load progress tick's latency goes (issue 15, item 3): bench/latency.py's path, split
by timestamps carried in the tick's own message, all on one machine's clock (time.time):

    p<phase> @<yield> r<monitor> s<publish> [ts: the envelope's, the shard's] i<ingress> -> client

- `@`: the job's Ray task sends the item through its task link (as bench/latency.py);
- `r`: the job's monitor has the item (the link's handler runs) and calls `ctx.progress`;
- `s`: the monitor's publish call to the registry shard starts (after UpdateCoalescer's wait, if
  any, and the publish loop waking up); the kind wraps the monitor's ShardClient to stamp it;
- `ts`: the shard stamped the envelope (the publish call arrived and ran);
- `i`: the ingress's outstanding long-poll pull returned with it (the hub runs under
  bench/latency_probe.py, which wraps Relay._fan_out: a probe, no change to the hub);
- the client read the frame (its arrival time).

Also from the monitors: each publish call's round trip (send to reply), to a file per job.
Only bench-side code: the stamps are appended to the tick's message, which the hub passes through.

    python bench/latency_split.py --quick     # the light step and bench/latency.py's quick steps
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import latency  # noqa: E402
from bench.clients import start_clients  # noqa: E402
from bench.common import (  # noqa: E402
    RESULTS,
    SECRET,
    hub_server,
    percentiles_ms,
    register_kinds,
    report,
)

SPLIT = re.compile(r"^p(\d+) @(\d+\.\d+) r(\d+\.\d+) s(\d+\.\d+) i(\d+\.\d+)")
HOPS = [
    "task -> monitor",
    "monitor wait (coalescer + loop)",
    "publish call -> shard",
    "shard -> ingress pull",
    "ingress -> client",
]


class _StampingShard:
    """The monitor's ShardClient, stamping each tick's message with the publish call's start (` s<t>`)
    and keeping each call's round trip (start, reply) for the bench."""

    def __init__(self, inner: Any, log: list[tuple[float, float, int]]) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def publish(self, updates: list[dict[str, Any]]) -> Any:
        sent = time.time()
        for u in updates:
            if isinstance(u.get("message"), str) and " r" in u["message"]:
                u["message"] += f" s{sent:.6f}"
        reply = await self._inner.publish(updates)
        self._log.append((sent, time.time(), len(updates)))
        return reply


async def split_kind(ctx: Any, params: latency.TickParams) -> dict[str, int]:
    """bench/latency.py's ticks_kind, stamping when the monitor has each item (` r<t>`)."""
    import ray

    calls: list[tuple[float, float, int]] = []
    ctx.shard = _StampingShard(ctx.shard, calls)
    task = ray.remote(num_cpus=0, max_retries=0)(latency.tick_task)
    link = await ctx.link(lambda item: ctx.progress(50.0, f"{item} r{time.time():.6f}"))
    made = await ctx.track(task.remote(params.index, params.barrier, link))
    await ctx.drained(link)
    (Path(params.barrier) / f"calls-{params.index}.json").write_text(json.dumps(calls))
    return {"ticks": made}


class SplitTally(latency.LatencyTally):
    """Per phase, for every tick delivered: (yield, monitor, publish, shard ts, ingress, arrival)."""

    def add(self, conn: int, messages: list[dict[str, Any]], now: float) -> bool:
        done = self.done.setdefault(conn, set())
        for m in messages:
            data = m["data"]
            if data.get("status") == "processing" and (st := SPLIT.match(data.get("message", ""))):
                called, mon, pub, ing = (float(st[i]) for i in (2, 3, 4, 5))
                self.latencies.setdefault(int(st[1]), []).append((called, mon, pub, m["ts"], ing, now))
            elif data.get("status") in ("completed", "failed", "cancelled"):
                done.add(data["jobId"])
        return len(done) >= self.jobs


def probed_hub(**env: str) -> AbstractContextManager[tuple[str, subprocess.Popen[Any]]]:
    """bench.common.hub_server, the hub run under bench/latency_probe.py (its ingress stamps ` i<t>`)."""
    return hub_server(command=[str(Path(__file__).resolve().parent / "latency_probe.py")], **env)


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values` in ms (nearest rank; NaN when empty): bench.common.percentiles_ms."""
    return percentiles_ms(values, (q,))[f"p{round(100 * q)}"]


def measure(base: str, hub_pid: int, plan: latency.Plan) -> dict[str, Any]:
    from hub.auth import issue_token

    register_kinds(base, hub_pid, {"bench_split": (split_kind, latency.TickParams)})
    jobs = max(j for j, _ in plan.phases)
    E, C = latency.EDUCATORS, latency.CONNECTIONS
    educators = [issue_token(SECRET, f"split-{e}", ttl=3600, now=time.time()) for e in range(E)]
    url = base.replace("http", "ws", 1) + "/ws"
    connected, go, collect = start_clients(
        url, educators * C, False, SplitTally(-(-jobs // E)), timeout=300 + len(plan.phases) * (plan.seconds + 1)
    )
    go.set()
    with tempfile.TemporaryDirectory() as barrier, httpx.Client(base_url=base, timeout=60) as http:
        timetable, _ = latency.release_jobs(http, educators, "bench_split", jobs, barrier, plan)
        results = collect()
        deadline = time.time() + 30
        while len(list(Path(barrier).glob("calls-*"))) < jobs and time.time() < deadline:
            time.sleep(0.2)
        calls = [c for f in Path(barrier).glob("calls-*") for c in json.loads(f.read_text())]
    steps = []
    for p, phase in enumerate(timetable):
        rows = [x for r in results for x in r["latencies"].get(str(p), r["latencies"].get(p, []))]
        hops = [[row[h + 1] - row[h] for row in rows] for h in range(5)]
        total = [row[5] - row[0] for row in rows]
        in_phase = [c for c in calls if phase["start"] <= c[0] < phase["start"] + phase["seconds"] + 0.5]
        steps.append(
            {
                "jobs": phase["jobs"],
                "rate": phase["rate"],
                "ticks": len(rows),
                "total": {"p50": pct(total, 0.5), "p99": pct(total, 0.99)},
                "hops": {
                    name: {"p50": pct(h, 0.5), "p99": pct(h, 0.99), "mean": 1000 * statistics.fmean(h) if h else 0}
                    for name, h in zip(HOPS, hops, strict=True)
                },
                "publish_rtt": {
                    "p50": pct([c[1] - c[0] for c in in_phase], 0.5),
                    "p99": pct([c[1] - c[0] for c in in_phase], 0.99),
                    "calls": len(in_phase),
                    "updates": sum(c[2] for c in in_phase),
                },
            }
        )
    return {"clients": connected, "seconds": plan.seconds, "steps": steps}


def write(result: dict[str, Any], out: Path) -> None:
    lines = [
        f"# Light-load latency, split by hop ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"{result['clients']} clients, {result['seconds']:g} s a step)",
        "",
        "| step | jobs x updates/s | ticks seen | total p50 / p99 | "
        + " | ".join(f"{h} p50 / p99" for h in HOPS)
        + " | publish call round trip p50 / p99 (calls, updates) |",
        "|---|---|---|---|" + "---|" * len(HOPS) + "---|",
    ]
    for i, s in enumerate(result["steps"]):
        hops = " | ".join(f"{s['hops'][h]['p50']:.1f} / {s['hops'][h]['p99']:.1f}" for h in HOPS)
        rtt = s["publish_rtt"]
        lines.append(
            f"| {'light' if i == 0 else i} | {s['jobs']} x {s['rate']} | {s['ticks']} | "
            f"{s['total']['p50']:.1f} / {s['total']['p99']:.1f} | {hops} | "
            f"{rtt['p50']:.1f} / {rtt['p99']:.1f} ({rtt['calls']}, {rtt['updates']}) |"
        )
    lines += ["", "Times in ms; every hop's p50 and p99 are of that hop alone (they do not add up to the total's).", ""]
    report(lines, out, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--light-only", action="store_true", help="only the light step (10 jobs x 10/s)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latency_split.md")
    args = parser.parse_args()
    plan = latency.QUICK if args.quick else latency.FULL
    if args.light_only:
        plan = latency.Plan(plan.phases[:1], plan.seconds)
    with probed_hub(HUB_MAX_CONNECTIONS_PER_TOKEN=str(2 * latency.CONNECTIONS)) as (base, hub):
        result = measure(base, hub.pid, plan)
    write(result, args.out)


if __name__ == "__main__":
    main()
