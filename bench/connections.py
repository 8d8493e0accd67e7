"""Idle connections one ingress process holds, and its memory per connection with
permessage-deflate negotiated: the hub against the bare FastAPI peer, same run.

    python bench/connections.py --quick     # 2,000 connections
    python bench/connections.py             # 10,000 connections
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, SECRET, bare_server, hub_server, report  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def holder(url: str, tokens: list[str], ready: Any, release: Any) -> None:
    from websockets.asyncio.client import connect

    async def run() -> None:
        sockets = []
        for i in range(0, len(tokens), 50):

            async def one(token: str) -> Any:
                ws = await connect(url, compression="deflate", open_timeout=60, ping_interval=None)
                await ws.send(json.dumps({"op": "hello", "token": token}))
                await ws.recv()
                return ws

            sockets += await asyncio.gather(*(one(t) for t in tokens[i : i + 50]))
        ready.put(len(sockets))
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        for ws in sockets:
            await ws.close()

    asyncio.run(run())


def measure(name: str, url: str, tokens: list[str], pid: int, procs: int = 2) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, release = ctx.Queue(), ctx.Event()
    time.sleep(2)
    before = rss_kib(pid)
    workers = [ctx.Process(target=holder, args=(url, tokens[i::procs], ready, release)) for i in range(procs)]
    started = time.time()
    for w in workers:
        w.start()
    held = sum(ready.get(timeout=600) for _ in workers)
    took = time.time() - started
    time.sleep(3)
    after = rss_kib(pid)
    release.set()
    for w in workers:
        w.join(timeout=120)
    return {
        "name": name,
        "held": held,
        "kib": (after - before) / max(1, held),
        "before": before,
        "after": after,
        "rate": held / took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "connections.md")
    args = parser.parse_args()
    count = args.connections or (2000 if args.quick else 10_000)

    from hub.auth import issue_token

    rows = []
    with hub_server() as (base, hub):
        tokens = [issue_token(SECRET, f"idle-{i}", ttl=3600, now=time.time()) for i in range(count)]
        rows.append(measure("hub", base.replace("http", "ws", 1) + "/ws", tokens, hub.pid))
    with bare_server() as (base, bare):
        idle = [f"idle-{i}" for i in range(count)]
        rows.append(measure("bare FastAPI", base.replace("http", "ws", 1) + "/ws", idle, bare.pid))

    hub_row, bare_row = rows
    lines = [
        f"# Idle connections ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {count} connections, "
        "permessage-deflate negotiated)",
        "",
        "| server | held | RSS before MiB | RSS after MiB | KiB per connection | connections/s opened |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['held']:,} | {r['before'] / 1024:.0f} | {r['after'] / 1024:.0f} | {r['kib']:.1f} | "
            f"{r['rate']:,.0f} |"
            for r in rows
        ),
        "",
        f"- hub KiB per connection: **{hub_row['kib']:.1f}** (target <= 48); "
        f"bare FastAPI in the same run: {bare_row['kib']:.1f}",
        "",
    ]
    report(lines, args.out)


if __name__ == "__main__":
    main()
