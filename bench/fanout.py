"""Fan-out throughput and latency: the hub against the bare FastAPI ceiling, same workload, one run.

Each server runs in its own process (the hub with its own local Ray); clients run in separate
processes (loopback only). The publisher sends M messages, each to every one of C connected
clients; clients record arrivals, latency (send time to arrival) and the bytes they read from the
socket (compressed, batched: what was on the wire).

    python bench/fanout.py --quick          # 200 clients x 200 messages
    python bench/fanout.py                  # 1000 clients x 500 messages
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, SECRET, bare_server, hub_server, report  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WIRE = [0]  # bytes received from sockets in this client process


def count_wire_bytes() -> None:
    """Count what arrives on the sockets (compressed, framed) before websockets decodes it."""
    from websockets.asyncio.connection import Connection

    original = Connection.data_received

    def counting(self: Any, data: bytes) -> None:
        WIRE[0] += len(data)
        original(self, data)

    Connection.data_received = counting  # type: ignore[method-assign]


def client_process(url: str, tokens: list[str], expect: int, ready: Any, go: Any, out: Any) -> None:
    from websockets.asyncio.client import connect

    count_wire_bytes()

    async def run() -> None:
        sockets = []
        for token in tokens:
            ws = await connect(url, compression="deflate", max_size=None)
            await ws.send(json.dumps({"op": "hello", "token": token}))
            await ws.recv()
            sockets.append(ws)
        ready.put(len(sockets))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        start_bytes = WIRE[0]
        latencies: list[float] = []
        counts = [0] * len(sockets)
        deadline = time.time() + 120

        async def reader(i: int, ws: Any) -> None:
            while counts[i] < expect and time.time() < deadline:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.time()))
                except Exception:  # a timeout or a closed connection ends this reader
                    return
                now = time.time()
                for m in frame.get("messages", []):
                    counts[i] += 1
                    if counts[i] % 10 == 0:
                        latencies.append(now - float(m["data"]["body"]))

        await asyncio.gather(*(reader(i, ws) for i, ws in enumerate(sockets)))
        out.put({"received": sum(counts), "latencies": latencies, "bytes": WIRE[0] - start_bytes, "done": time.time()})
        for ws in sockets:
            await ws.close()

    asyncio.run(run())


def run_one(
    name: str, base: str, tokens: list[str], messages: int, publish: Any, procs: int, server_pid: int
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    ws_url = base.replace("http", "ws", 1) + "/ws"
    workers = [
        ctx.Process(target=client_process, args=(ws_url, tokens[i::procs], messages, ready, go, out))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    connected = sum(ready.get(timeout=300) for _ in workers)
    cpu0 = cpu_seconds(server_pid)
    go.set()
    t0 = time.time()
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(messages):
            publish(http, i)
    results = [out.get(timeout=180) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    elapsed = max(r["done"] for r in results) - t0
    received = sum(r["received"] for r in results)
    lat = sorted(x for r in results for x in r["latencies"])
    pct = (lambda q: 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    return {
        "name": name,
        "clients": connected,
        "messages": messages,
        "received": received,
        "expected": connected * messages,
        "rate": received / elapsed,
        "p50": pct(0.5),
        "p99": pct(0.99),
        "bytes": sum(r["bytes"] for r in results),
        "cpu": cpu_seconds(server_pid) - cpu0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fanout.md")
    args = parser.parse_args()
    clients = args.clients or (200 if args.quick else 1000)
    messages = args.messages or (200 if args.quick else 500)
    procs = 2
    educators = [f"bench-{i}" for i in range(clients)]

    from hub.auth import issue_token
    from hub.protocol import batch_frame, envelope_json

    rows = []
    with hub_server(HUB_MAX_CONNECTIONS_PER_TOKEN="5") as (base, hub):
        service = issue_token(SECRET, "bench-publisher", role="service", ttl=3600, now=time.time())
        tokens = [issue_token(SECRET, e, ttl=3600, now=time.time()) for e in educators]

        def publish_hub(http: httpx.Client, i: int) -> None:
            reply = http.post(
                "/api/publish",
                headers={"Authorization": f"Bearer {service}"},
                json={
                    "type": "notification",
                    "educatorIds": educators,
                    "data": {"title": f"m{i}", "body": repr(time.time())},
                },
            )
            assert reply.status_code == 202, reply.text

        rows.append(run_one("hub", base, tokens, messages, publish_hub, procs, hub.pid))

    with bare_server() as (base, bare):

        def publish_bare(http: httpx.Client, i: int) -> None:
            data = {"id": f"n{i}", "level": "info", "title": f"m{i}", "body": repr(time.time()), "broadcast": False}
            http.post("/blast", json={"ts": time.time(), "data": data})

        rows.append(run_one("bare FastAPI", base, educators, messages, publish_bare, procs, bare.pid))

    sample = {"id": "n-0123456789ab", "level": "info", "title": "m100", "body": repr(time.time()), "broadcast": False}
    one_frame = len(batch_frame([envelope_json(100, "notification", time.time(), sample)])) + 4
    baseline_bytes = one_frame * clients * messages
    hub_row, bare_row = rows
    lines = [
        f"# Fan-out ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {clients} clients x {messages} "
        f"messages, {procs} client processes)",
        "",
        "| server | delivered | messages/s | p50 ms | p99 ms | server CPU s | CPU µs / delivery | bytes on the wire |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['received']}/{r['expected']} | {r['rate']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['cpu']:.2f} | {1e6 * r['cpu'] / max(1, r['received']):.1f} | {r['bytes']:,} |"
            for r in rows
        ),
        "",
        f"- hub throughput / bare FastAPI: **{hub_row['rate'] / bare_row['rate']:.2f}** (target >= 0.5)",
        f"- hub bytes on the wire / one uncompressed JSON frame per message ({baseline_bytes:,} B): "
        f"**{hub_row['bytes'] / baseline_bytes:.2f}** (target <= 0.3)",
        "- server CPU for the hub is the ingress process only (shards run in Ray workers).",
        "",
    ]
    report(lines, args.out)


if __name__ == "__main__":
    main()
