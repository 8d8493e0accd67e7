"""Fan-out throughput and latency: the hub against the bare FastAPI ceiling and python-socketio (one
room per educator), same workload, one run.

Each server runs in its own process (the hub with its own local Ray); clients run in separate
processes (loopback only) and speak each server's protocol with the same minimal client code
(bench/clients.py). The publisher sends M messages, each to every one of C connected clients
(C educators, one connection each); clients record arrivals, latency (send time to arrival) and
the bytes they read from the socket (compressed, batched: what was on the wire).

    python bench/fanout.py --quick          # 200 clients x 200 messages
    python bench/fanout.py                  # 1000 clients x 500 messages
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.clients import start_clients  # noqa: E402
from bench.common import (  # noqa: E402
    NAMESPACE,
    RESULTS,
    SECRET,
    cpu_seconds,
    hub_server,
    joined_ray,
    peer_server,
    percentiles_ms,
    report,
)

PROCS = 2  # client processes


class FanoutTally:
    """Counts each connection's messages up to `expect`; keeps every 10th one's latency (the send
    time is the message's body)."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.counts: dict[int, int] = {}
        self.latencies: list[float] = []

    def add(self, conn: int, messages: list[dict[str, Any]], now: float) -> bool:
        n = self.counts.get(conn, 0)
        for m in messages:
            n += 1
            if n % 10 == 0:
                self.latencies.append(now - float(m["data"]["body"]))
        self.counts[conn] = n
        return n >= self.expect

    def figures(self) -> dict[str, Any]:
        return {"received": sum(self.counts.values()), "latencies": self.latencies}


IN_FLIGHT = 8  # publish requests the load generator keeps open, for every server alike


async def offer_load(base: str, publish: Callable[[httpx.AsyncClient, int], Awaitable[None]], messages: int) -> None:
    """Publish `messages` messages in order, with up to IN_FLIGHT publishes outstanding: the publish
    round trip (a Ray call, an HTTP request) must not be what limits the delivery rate measured."""
    window = asyncio.Semaphore(IN_FLIGHT)

    async def one(http: httpx.AsyncClient, i: int) -> None:
        try:
            await publish(http, i)
        finally:
            window.release()

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        sent = []
        for i in range(messages):
            await window.acquire()
            sent.append(asyncio.ensure_future(one(http, i)))
        await asyncio.gather(*sent)


def run_one(
    name: str,
    url: str,
    names: list[str],
    messages: int,
    publish: Callable[[httpx.AsyncClient, int], Awaitable[None]],
    base: str,
    server_pid: int,
    socketio: bool = False,
) -> dict[str, Any]:
    connected, go, collect = start_clients(url, names, socketio, FanoutTally(messages), timeout=120, procs=PROCS)
    cpu0 = cpu_seconds(server_pid)
    go.set()
    t0 = time.time()
    asyncio.run(offer_load(base, publish, messages))
    published = time.time() - t0
    results = collect()
    elapsed = max(r["done"] for r in results) - t0
    received = sum(r["received"] for r in results)
    return {
        "name": name,
        "clients": connected,
        "messages": messages,
        "received": received,
        "expected": connected * messages,
        "rate": received / elapsed,
        **percentiles_ms([x for r in results for x in r["latencies"]], (0.5, 0.99)),
        "bytes": sum(r["bytes"] for r in results),
        "cpu": cpu_seconds(server_pid) - cpu0,
        "publish_s": published,
        "elapsed_s": elapsed,
    }


def measure_hub(base: str, pid: int, clients: int, messages: int, via: str = "ray") -> dict[str, Any]:
    """Notifications to C educators, one connection each, published either from Ray (`via="ray"`:
    a driver process calling the shards, as job monitors and hub.backend.Backend do: the production
    path, Ray -> ingress -> clients) or through the ingress's `POST /api/publish` (`via="http"`:
    the ingress also parses the request and makes the shard calls)."""
    from hub.auth import issue_token

    educators = [f"bench-{i}" for i in range(clients)]
    service = issue_token(SECRET, "bench-publisher", role="service", ttl=3600, now=time.time())
    tokens = [issue_token(SECRET, e, ttl=3600, now=time.time()) for e in educators]

    def body(i: int) -> dict[str, Any]:
        return {"title": f"m{i}", "body": repr(time.time())}

    async def publish_http(http: httpx.AsyncClient, i: int) -> None:
        reply = await http.post(
            "/api/publish",
            headers={"Authorization": f"Bearer {service}"},
            json={"type": "notification", "educatorIds": educators, "data": body(i)},
        )
        assert reply.status_code == 202, reply.text

    url = base.replace("http", "ws", 1) + "/ws"
    if via == "http":
        return run_one("hub (HTTP publish)", url, tokens, messages, publish_http, base, pid)

    from hub.backend import Backend

    with joined_ray(pid):
        backend = Backend.connect(address=None, namespace=NAMESPACE)

        async def publish_ray(http: httpx.AsyncClient, i: int) -> None:
            assert await backend.publish("notification", body(i), educators) == clients

        return run_one("hub", url, tokens, messages, publish_ray, base, pid)


def measure_peer(base: str, pid: int, clients: int, messages: int, socketio: bool = False) -> dict[str, Any]:
    """`POST /blast` to a peer of bench/peers.py, C educators, one connection each."""

    async def publish(http: httpx.AsyncClient, i: int) -> None:
        data = {"id": f"n{i}", "level": "info", "title": f"m{i}", "body": repr(time.time()), "broadcast": False}
        (await http.post("/blast", json={"ts": time.time(), "data": data})).raise_for_status()

    url = base.replace("http", "ws", 1) + ("" if socketio else "/ws")
    educators = [f"bench-{i}" for i in range(clients)]
    name = "python-socketio" if socketio else "bare FastAPI"
    return run_one(name, url, educators, messages, publish, base, pid, socketio)


def write(rows: list[dict[str, Any]], clients: int, messages: int, out: Path) -> None:
    from hub.protocol import batch_frame, envelope_json

    sample = {"id": "n-0123456789ab", "level": "info", "title": "m100", "body": repr(time.time()), "broadcast": False}
    one_frame = len(batch_frame([envelope_json(100, "notification", time.time(), sample)])) + 4
    baseline_bytes = one_frame * clients * messages
    by = {r["name"]: r for r in rows}  # the ratios use "hub": published from Ray
    hub, bare, sio = by["hub"], by.get("bare FastAPI"), by.get("python-socketio")
    ratios: dict[str, float] = {"wire_bytes": hub["bytes"] / baseline_bytes}
    if bare:
        ratios["throughput_vs_bare"] = hub["rate"] / bare["rate"]
    if sio:
        ratios["throughput_vs_socketio"] = hub["rate"] / sio["rate"]
        ratios["p99_vs_socketio"] = hub["p99"] / sio["p99"]
    lines = [
        f"# Fan-out ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {clients} clients x {messages} "
        f"messages, {PROCS} client processes)",
        "",
        "| server | delivered | messages/s | p50 ms | p99 ms | server CPU s | CPU µs / delivery | bytes on the wire |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['received']}/{r['expected']} | {r['rate']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['cpu']:.2f} | {1e6 * r['cpu'] / max(1, r['received']):.1f} | {r['bytes']:,} |"
            for r in rows
        ),
        "",
    ]
    if bare:
        lines.append(f"- hub throughput / bare FastAPI: **{ratios['throughput_vs_bare']:.2f}** (target >= 0.5)")
    if sio:
        lines.append(
            f"- hub throughput / python-socketio: **{ratios['throughput_vs_socketio']:.2f}** (target >= 2); "
            f"hub p99 / python-socketio p99: **{ratios['p99_vs_socketio']:.2f}** (target <= 0.5)"
        )
    lines += [
        f"- hub bytes on the wire / one uncompressed JSON frame per message ({baseline_bytes:,} B): "
        f"**{ratios['wire_bytes']:.2f}** (target <= 0.3)",
        "- server CPU for the hub is the ingress process only (shards run in Ray workers).",
        "- the hub's messages come from Ray (a driver calling the shards, as job monitors do); with "
        "`--http-publish` a second hub row has them posted to the ingress's `POST /api/publish`.",
        "",
    ]
    report(lines, out, {"clients": clients, "messages": messages, "rows": rows, "ratios": ratios})


def sizes(quick: bool) -> tuple[int, int]:
    return (200, 200) if quick else (1000, 500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--out", type=Path, default=RESULTS / "fanout.md")
    parser.add_argument("--http-publish", action="store_true", help="also publish through POST /api/publish")
    args = parser.parse_args()
    clients, messages = sizes(args.quick)
    clients, messages = args.clients or clients, args.messages or messages

    rows = []
    with hub_server(HUB_MAX_CONNECTIONS_PER_TOKEN="5") as (base, hub):
        rows.append(measure_hub(base, hub.pid, clients, messages, "ray"))
        if args.http_publish:
            rows.append(measure_hub(base, hub.pid, clients, messages, "http"))
    for socketio in (False, True):
        with peer_server(socketio) as (base, peer):
            rows.append(measure_peer(base, peer.pid, clients, messages, socketio))
    write(rows, clients, messages, args.out)


if __name__ == "__main__":
    main()
