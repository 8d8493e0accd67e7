"""Idle connections one ingress process holds, and its memory per connection with
permessage-deflate negotiated: the hub against the bare FastAPI peer, same run.

    python bench/connections.py --quick     # 1,000 connections
    python bench/connections.py             # 10,000 connections
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.clients import open_hub  # noqa: E402
from bench.common import RESULTS, SECRET, hub_server, peer_server, report, rss_kib  # noqa: E402


def holder(url: str, tokens: list[str], ready: Any, release: Any) -> None:
    async def run() -> None:
        sockets = []
        for i in range(0, len(tokens), 50):
            sockets += await asyncio.gather(*(open_hub(url, t, ping_interval=None) for t in tokens[i : i + 50]))
        ready.put(len(sockets))
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        for ws in sockets:
            await ws.close()

    asyncio.run(run())


DEFLATE_IDLE = 2.0  # seconds: the hub frees an idle connection's compressor after this (default 15)
HUB_ENV = {"HUB_DEFLATE_IDLE": str(DEFLATE_IDLE)}


def measure(name: str, url: str, tokens: list[str], pid: int, procs: int = 2) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, release = ctx.Queue(), ctx.Event()
    time.sleep(2)
    before = rss_kib(pid)
    workers = [
        ctx.Process(target=holder, args=(url, tokens[i::procs], ready, release), daemon=True) for i in range(procs)
    ]
    started = time.time()
    for w in workers:
        w.start()
    held = sum(ready.get(timeout=600) for _ in workers)
    took = time.time() - started
    time.sleep(0.5)
    active = rss_kib(pid)  # every connection has just been written to (its welcome)
    time.sleep(2 * DEFLATE_IDLE + 1)
    after = rss_kib(pid)  # idle: the hub has freed the compressors (HUB_DEFLATE_IDLE)
    release.set()
    for w in workers:
        w.join(timeout=120)
    return {
        "name": name,
        "held": held,
        "kib": (after - before) / max(1, held),
        "kib_active": (active - before) / max(1, held),
        "before": before,
        "after": after,
        "rate": held / took,
    }


def measure_hub(base: str, pid: int, count: int) -> dict[str, Any]:
    """Run it on a fresh ingress: the figure is the process's RSS growth."""
    from hub.auth import issue_token

    tokens = [issue_token(SECRET, f"idle-{i}", ttl=3600, now=time.time()) for i in range(count)]
    return measure("hub", base.replace("http", "ws", 1) + "/ws", tokens, pid)


def measure_bare(base: str, pid: int, count: int) -> dict[str, Any]:
    return measure("bare FastAPI", base.replace("http", "ws", 1) + "/ws", [f"idle-{i}" for i in range(count)], pid)


def write(rows: list[dict[str, Any]], count: int, out: Path) -> None:
    hub_row, bare_row = rows
    lines = [
        f"# Idle connections ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {count} connections, "
        "permessage-deflate negotiated)",
        "",
        "| server | held | RSS before MiB | RSS after MiB | KiB per idle connection | KiB per connection just "
        "written to | connections/s opened |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['held']:,} | {r['before'] / 1024:.0f} | {r['after'] / 1024:.0f} | {r['kib']:.1f} | "
            f"{r['kib_active']:.1f} | {r['rate']:,.0f} |"
            for r in rows
        ),
        "",
        f"- hub KiB per idle connection: **{hub_row['kib']:.1f}** (target <= 48); "
        f"bare FastAPI in the same run: {bare_row['kib']:.1f}",
        f"- idle: {2 * DEFLATE_IDLE + 1:g} s after the last write, past HUB_DEFLATE_IDLE={DEFLATE_IDLE:g} s (default "
        "15), when the hub has freed each idle connection's compressor; just written to: 0.5 s after the welcome, "
        "every compressor held.",
        "",
    ]
    report(lines, out, {"connections": count, "rows": rows})


def size(quick: bool) -> int:
    return 1000 if quick else 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--out", type=Path, default=RESULTS / "connections.md")
    args = parser.parse_args()
    count = args.connections or size(args.quick)
    with hub_server(**HUB_ENV) as (base, hub):
        rows = [measure_hub(base, hub.pid, count)]
    with peer_server() as (base, bare):
        rows.append(measure_bare(base, bare.pid, count))
    write(rows, count, args.out)


if __name__ == "__main__":
    main()
