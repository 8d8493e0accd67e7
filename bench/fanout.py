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
from collections.abc import Awaitable, Callable, Sequence
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
    offer,
    peer_server,
    percentiles_ms,
    report,
)

PROCS = 2  # client processes (--client-procs)


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
PACED_SECONDS = 4.0  # length of a paced run

# publish(http, i, stamp): send message i, whose body carries `stamp` (the time it was due)
Publisher = Callable[[httpx.AsyncClient, int, float], Awaitable[None]]


async def offer_load(base: str, publish: Publisher, messages: int, rate: float | None = None) -> None:
    """Publish `messages` messages in order, with up to IN_FLIGHT publishes outstanding (the publish
    round trip, a Ray call or an HTTP request, must not be what limits the delivery rate measured),
    as fast as that allows or paced at `rate` (bench.common.offer)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        await offer(lambda i, stamp: publish(http, i, stamp), messages, rate, IN_FLIGHT)


def run_one(
    name: str,
    url: str,
    names: list[str],
    messages: int,
    publish: Publisher,
    base: str,
    server_pid: int,
    socketio: bool = False,
    procs: int = PROCS,
    rate: float | None = None,
) -> dict[str, Any]:
    """One run: saturation (`rate` None, `messages` messages) or paced (`rate` messages a second
    for PACED_SECONDS)."""
    messages = round(rate * PACED_SECONDS) if rate else messages
    connected, go, collect = start_clients(url, names, socketio, FanoutTally(messages), timeout=120, procs=procs)
    cpu0 = cpu_seconds(server_pid)
    go.set()
    t0 = time.time()
    asyncio.run(offer_load(base, publish, messages, rate))
    published = time.time() - t0
    results = collect()
    elapsed = max(r["done"] for r in results) - t0
    received = sum(r["received"] for r in results)
    return {
        "name": name,
        "offered": rate,
        "client_procs": procs,
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


def measure_hub(
    base: str,
    pid: int,
    clients: int,
    messages: int,
    via: str = "ray",
    procs: int = PROCS,
    rates: Sequence[float | None] = (None,),
) -> list[dict[str, Any]]:
    """Notifications to C educators, one connection each, published either from Ray (`via="ray"`:
    a driver process calling the shards over their data-plane sockets, found through Ray, as job
    monitors do: the production path, shard -> ingress -> clients) or through the ingress's
    `POST /api/publish` (`via="http"`: the ingress also parses the request and makes the shard
    calls)."""
    from hub.auth import issue_token

    educators = [f"bench-{i}" for i in range(clients)]
    service = issue_token(SECRET, "bench-publisher", role="service", ttl=3600, now=time.time())
    tokens = [issue_token(SECRET, e, ttl=3600, now=time.time()) for e in educators]

    def body(i: int, stamp: float) -> dict[str, Any]:
        return {"title": f"m{i}", "body": repr(stamp)}

    async def publish_http(http: httpx.AsyncClient, i: int, stamp: float) -> None:
        reply = await http.post(
            "/api/publish",
            headers={"Authorization": f"Bearer {service}"},
            json={"type": "notification", "educatorIds": educators, "data": body(i, stamp)},
        )
        assert reply.status_code == 202, reply.text

    url = base.replace("http", "ws", 1) + "/ws"
    if via == "http":
        return [
            run_one("hub (HTTP publish)", url, tokens, messages, publish_http, base, pid, procs=procs, rate=r)
            for r in rates
        ]

    from hub.backend import Backend

    with joined_ray(pid):
        backend = Backend.connect(address=None, namespace=NAMESPACE, dataplane=True)  # as job monitors publish

        async def publish_ray(http: httpx.AsyncClient, i: int, stamp: float) -> None:
            assert await backend.publish("notification", body(i, stamp), educators) == clients

        return [run_one("hub", url, tokens, messages, publish_ray, base, pid, procs=procs, rate=r) for r in rates]


def measure_peer(
    base: str,
    pid: int,
    clients: int,
    messages: int,
    socketio: bool = False,
    procs: int = PROCS,
    rates: Sequence[float | None] = (None,),
) -> list[dict[str, Any]]:
    """`POST /blast` to a peer of bench/peers.py, C educators, one connection each."""

    async def publish(http: httpx.AsyncClient, i: int, stamp: float) -> None:
        data = {"id": f"n{i}", "level": "info", "title": f"m{i}", "body": repr(stamp), "broadcast": False}
        (await http.post("/blast", json={"ts": time.time(), "data": data})).raise_for_status()

    url = base.replace("http", "ws", 1) + ("" if socketio else "/ws")
    educators = [f"bench-{i}" for i in range(clients)]
    name = "python-socketio" if socketio else "bare FastAPI"
    return [run_one(name, url, educators, messages, publish, base, pid, socketio, procs, r) for r in rates]


def write(rows: list[dict[str, Any]], clients: int, messages: int, out: Path) -> None:
    from hub.core.protocol import batch_frame, envelope_json

    sample = {"id": "n-0123456789ab", "level": "info", "title": "m100", "body": repr(time.time()), "broadcast": False}
    one_frame = len(batch_frame([envelope_json(100, "notification", time.time(), sample)])) + 4
    baseline_bytes = one_frame * clients * messages
    saturated = [r for r in rows if not r["offered"]]
    paced = [r for r in rows if r["offered"]]
    by = {r["name"]: r for r in saturated}  # the ratios use "hub": published from Ray
    hub, bare, sio = by["hub"], by.get("bare FastAPI"), by.get("python-socketio")
    ratios: dict[str, float] = {"wire_bytes": hub["bytes"] / baseline_bytes}
    if bare:
        ratios["throughput_vs_bare"] = hub["rate"] / bare["rate"]
    if sio:
        ratios["throughput_vs_socketio"] = hub["rate"] / sio["rate"]
        ratios["p99_vs_socketio_saturated"] = hub["p99"] / sio["p99"]
    at = {(r["name"], r["offered"]) for r in paced}
    common = sorted(o for name, o in at if name == "hub" and ("python-socketio", o) in at)
    if common:  # latency compared at the same offered load: the highest paced rate both ran
        pick = {r["name"]: r for r in paced if r["offered"] == common[-1]}
        ratios["p99_vs_socketio"] = pick["hub"]["p99"] / pick["python-socketio"]["p99"]
        ratios["p99_rate"] = common[-1]
    lines = [
        f"# Fan-out ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {clients} clients, "
        f"{rows[0]['client_procs']} client processes)",
        "",
        f"Saturation: {messages} messages, each to every client, {IN_FLIGHT} publishes in flight, as fast as each "
        "server takes them.",
        "",
        "| server | delivered | messages/s | p50 ms | p99 ms | server CPU s | CPU µs / delivery | bytes on the wire |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['received']}/{r['expected']} | {r['rate']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['cpu']:.2f} | {1e6 * r['cpu'] / max(1, r['received']):.1f} | {r['bytes']:,} |"
            for r in saturated
        ),
        "",
    ]
    if paced:
        lines += [
            f"Paced: the same servers at a fixed offered rate for {PACED_SECONDS:g} s, each message stamped with the "
            "time it was due (latency includes any wait to be sent).",
            "",
            "| server | messages/s offered | deliveries/s offered | delivered | p50 ms | p99 ms | CPU µs / delivery |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {r['name']} | {r['offered']:g} | {r['offered'] * r['clients']:,.0f} | "
                f"{r['received']}/{r['expected']} | {r['p50']:.1f} | {r['p99']:.1f} | "
                f"{1e6 * r['cpu'] / max(1, r['received']):.1f} |"
                for r in paced
            ),
            "",
        ]
    if bare:
        lines.append(f"- hub throughput / bare FastAPI: **{ratios['throughput_vs_bare']:.2f}** (target >= 0.5)")
    if sio:
        lines.append(f"- hub throughput / python-socketio: **{ratios['throughput_vs_socketio']:.2f}** (target >= 2)")
    if "p99_vs_socketio" in ratios:
        lines.append(
            f"- hub p99 / python-socketio p99 at the same offered load ({ratios['p99_rate']:g} messages/s to every "
            f"client): **{ratios['p99_vs_socketio']:.2f}** (target <= 0.5)"
        )
    if sio:
        lines.append(
            f"- at saturation, hub p99 / python-socketio p99: {ratios['p99_vs_socketio_saturated']:.2f}: the hub takes "
            "a publish once its shard has it, the peers once they have sent it, so a publisher that outruns delivery "
            "queues inside the hub and its latency grows with the run; the paced rows compare latency at equal load."
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


def paced_rates(quick: bool) -> list[float]:
    """Messages a second (each to every client) for the paced runs, under python-socketio's
    saturation rate: quick, 8,000 deliveries/s (about half of it on 2 cores); full, 10,000 to
    25,000 (a third to 85 % of it on 16 cores, 2026-11-26)."""
    return [40.0] if quick else [10.0, 20.0, 25.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--out", type=Path, default=RESULTS / "fanout.md")
    parser.add_argument("--http-publish", action="store_true", help="also publish through POST /api/publish")
    parser.add_argument("--client-procs", type=int, default=PROCS, help=f"client processes (default {PROCS})")
    parser.add_argument(
        "--paced",
        type=lambda text: [float(x) for x in text.split(",") if x],
        help="paced runs, messages/s to every client, comma-separated (default: 40 quick, 10,20,25 full; '' for none)",
    )
    args = parser.parse_args()
    clients, messages = sizes(args.quick)
    clients, messages = args.clients or clients, args.messages or messages

    rates = [None, *(args.paced if args.paced is not None else paced_rates(args.quick))]
    rows = []
    with hub_server(HUB_MAX_CONNECTIONS_PER_TOKEN="5") as (base, hub):
        rows += measure_hub(base, hub.pid, clients, messages, "ray", args.client_procs, rates)
        if args.http_publish:
            rows += measure_hub(base, hub.pid, clients, messages, "http", args.client_procs, rates)
    for socketio in (False, True):
        with peer_server(socketio) as (base, peer):
            rows += measure_peer(base, peer.pid, clients, messages, socketio, args.client_procs, rates)
    write(rows, clients, messages, args.out)


if __name__ == "__main__":
    main()
