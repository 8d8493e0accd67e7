"""At scale (issue 8): several ingress processes sharing one set of registry shards on one Ray,
tens of thousands of WebSocket connections, and how delivery scales from 1 to N ingress processes.

One hub (`hub serve`, its own local Ray and shards) and N-1 more `hub serve --address` ingress
processes joined to it, as cluster.yaml runs one per node. Every ingress holds `--per-ingress`
connections (one educator each, permessage-deflate negotiated), opened by `--client-procs` client
processes. Then, for k = 1, 2, 4, ... N, a driver on the hub's Ray (as a job monitor or a back end
publishes) sends `--messages` notifications to every educator connected to the first k ingresses:
the same load per ingress at every k, so perfect scaling keeps the time constant and multiplies
deliveries per second by k. Figures: connections held and opened per second, RSS per connection,
deliveries per second, ingress CPU per delivery, latency (publish call to arrival).

    python bench/scale.py --quick                                   # 2 ingresses x 500 (a smoke run)
    python bench/scale.py --ingresses 4 --per-ingress 12500 --client-procs 8   # 50,000 (16 cores)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.clients import WIRE, count_wire_bytes, open_hub  # noqa: E402
from bench.common import (  # noqa: E402
    NAMESPACE,
    RESULTS,
    SECRET,
    TreeCpu,
    cpu_seconds,
    hub_server,
    joined_ray,
    offer,
    percentiles_ms,
    ray_address,
    report,
    rss_kib,
)

DEFLATE_IDLE = 5.0  # seconds: idle compressors are freed after this (the RSS figure is taken past it)
IN_FLIGHT = 8  # publishes the driver keeps outstanding
OPENING = 100  # handshakes each client process keeps in flight
WARM_UP = 2  # messages to everyone before the measured steps
PACED_SECONDS = 5.0  # length of a paced step


def raise_open_files() -> int:
    """Lift this process's (and its children's) open-file limit to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def client_process(plan: list[tuple[str, str, int]], commands: Any, out: Any) -> None:
    """Hold one connection per (url, token, ingress index); for each ("phase", k, messages, timeout)
    command count what reaches the connections of ingresses < k until each has `messages`."""
    count_wire_bytes()

    async def run() -> None:
        gate = asyncio.Semaphore(OPENING)

        async def opened(url: str, token: str) -> Any:
            async with gate:
                return await open_hub(url, token, ping_interval=None)

        started = time.time()
        sockets = await asyncio.gather(*(opened(url, token) for url, token, _ in plan))
        out.put({"opened": len(sockets), "seconds": time.time() - started})
        loop = asyncio.get_running_loop()
        counts = [0] * len(sockets)
        state: dict[str, Any] = {"k": 0, "expect": 0, "left": 0, "latencies": [], "done": asyncio.Event()}

        async def reader(i: int, ws: Any, group: int) -> None:
            async for raw in ws:
                if group >= state["k"] or counts[i] >= state["expect"]:
                    continue
                now = time.time()
                for m in json.loads(raw).get("messages", []):
                    counts[i] += 1
                    if counts[i] % 10 == 1:  # the first, then every 10th
                        state["latencies"].append(now - float(m["data"]["body"]))
                if counts[i] >= state["expect"]:
                    state["left"] -= 1
                    if state["left"] == 0:
                        state["done"].set()

        groups = [g for _, _, g in plan]
        readers = [asyncio.ensure_future(reader(i, ws, groups[i])) for i, ws in enumerate(sockets)]
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command[0] == "stop":
                break
            _, k, expect, timeout = command
            counts[:] = [0] * len(sockets)
            targeted = sum(1 for g in groups if g < k)
            state.update(k=k, expect=expect, left=targeted, latencies=[], done=asyncio.Event())
            wire = WIRE[0]
            out.put("ready")
            if targeted:
                try:
                    await asyncio.wait_for(state["done"].wait(), timeout)
                except TimeoutError:
                    pass
            received = sum(c for c, g in zip(counts, groups, strict=True) if g < k)
            out.put(
                {
                    "received": received,
                    "latencies": state["latencies"],
                    "bytes": WIRE[0] - wire,
                    "done": time.time(),
                }
            )
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(run())


class Clients:
    """`procs` client processes sharing every connection of the plan (spawned, so no Ray in them)."""

    def __init__(self, plan: list[tuple[str, str, int]], procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.commands = [ctx.Queue() for _ in range(procs)]
        self.out = ctx.Queue()
        self.workers = [
            ctx.Process(target=client_process, args=(plan[i::procs], self.commands[i], self.out), daemon=True)
            for i in range(procs)
        ]
        started = time.time()
        for w in self.workers:
            w.start()
        reports = [self.out.get(timeout=900) for _ in self.workers]
        self.opened = sum(r["opened"] for r in reports)
        self.seconds = time.time() - started

    def phase(self, k: int, messages: int, timeout: float) -> None:
        for q in self.commands:
            q.put(("phase", k, messages, timeout))
        for _ in self.workers:
            assert self.out.get(timeout=60) == "ready"

    def results(self, timeout: float) -> list[dict[str, Any]]:
        return [self.out.get(timeout=timeout + 60) for _ in self.workers]

    def stop(self) -> None:
        for q in self.commands:
            q.put(("stop",))
        for w in self.workers:
            w.join(timeout=60)


async def publish_all(educators: list[str], messages: int, rate: float | None = None) -> None:
    """`messages` notifications to every one of `educators`, IN_FLIGHT at a time, from Ray: as
    fast as the shards take them, or with `rate`, message i due at start + i / rate and stamped
    with that time (a hub that falls behind shows it in its latency)."""
    from hub.backend import Backend
    from hub.ingress.desk import MAX_RECIPIENTS

    backend = Backend.connect(address=None, namespace=NAMESPACE)
    parts = [educators[i : i + MAX_RECIPIENTS] for i in range(0, len(educators), MAX_RECIPIENTS)]

    async def send(i: int, stamp: float) -> None:
        body = {"title": f"m{i}", "body": repr(stamp)}
        reached = await asyncio.gather(*(backend.publish("notification", body, part) for part in parts))
        assert sum(reached) == len(educators)

    await offer(send, messages, rate, IN_FLIGHT)


def steps(ingresses: int) -> list[int]:
    """1, 2, 4, ... up to `ingresses` (and `ingresses` itself)."""
    ks = [1]
    while ks[-1] * 2 <= ingresses:
        ks.append(ks[-1] * 2)
    return ks if ks[-1] == ingresses else [*ks, ingresses]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hub.auth import issue_token

    files = raise_open_files()
    env = {
        "HUB_SHARDS": str(args.shards),
        "HUB_MAX_CONNECTIONS": str(args.per_ingress + 100),
        "HUB_DEFLATE_IDLE": str(DEFLATE_IDLE),
    }
    with ExitStack() as stack:
        first, hub = stack.enter_context(hub_server(**env))
        address = ray_address(hub.pid)
        servers = [(first, hub)] + [
            stack.enter_context(hub_server(address=address, **env)) for _ in range(args.ingresses - 1)
        ]
        pids = [proc.pid for _, proc in servers]
        time.sleep(2)
        rss_before = [rss_kib(p) for p in pids]
        now = time.time()
        educators = [[f"s{j}-{i}" for i in range(args.per_ingress)] for j in range(args.ingresses)]
        plan = [
            (base.replace("http", "ws", 1) + "/ws", issue_token(SECRET, e, ttl=7200, now=now), j)
            for j, (base, _) in enumerate(servers)
            for e in educators[j]
        ]
        print(f"opening {len(plan):,} connections to {args.ingresses} ingress processes", flush=True)
        clients = Clients(plan, args.client_procs)
        print(f"held {clients.opened:,} in {clients.seconds:.1f} s", flush=True)
        time.sleep(DEFLATE_IDLE + 2)
        rss_idle = [rss_kib(p) for p in pids]
        phases = []
        with joined_ray(hub.pid):
            everyone = [e for group in educators for e in group]
            clients.phase(args.ingresses, WARM_UP, args.timeout)  # first calls, first frames: not measured
            asyncio.run(publish_all(everyone, WARM_UP))
            clients.results(args.timeout)
            for k in steps(args.ingresses):
                targeted = [e for group in educators[:k] for e in group]
                for rate in ([None] if args.messages else []) + ([args.paced] if args.paced else []):
                    messages = round(args.paced * PACED_SECONDS) if rate else args.messages
                    clients.phase(k, messages, args.timeout)
                    cpu0 = [cpu_seconds(p) for p in pids]
                    with TreeCpu(hub.pid) as ray_cpu:
                        t0 = time.time()
                        asyncio.run(publish_all(targeted, messages, rate))
                        published = time.time() - t0
                        results = clients.results(args.timeout)
                    cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
                    elapsed = max(r["done"] for r in results) - t0
                    received = sum(r["received"] for r in results)
                    phase = {
                        "ingresses": k,
                        "offered": rate,
                        "connections": len(targeted),
                        "expected": len(targeted) * messages,
                        "received": received,
                        "elapsed_s": elapsed,
                        "publish_s": published,
                        "rate": received / elapsed,
                        "ingress_cpu_s": sum(cpu[:k]),
                        "ray_cpu_s": ray_cpu.seconds - cpu[0],  # the shards, the store, Ray's daemons
                        "bytes": sum(r["bytes"] for r in results),
                        **percentiles_ms([x for r in results for x in r["latencies"]], (0.5, 0.99)),
                    }
                    phases.append(phase)
                    print(
                        f"k={k} {f'{rate:g}/s' if rate else 'saturation'}: {received:,}/{phase['expected']:,} in "
                        f"{elapsed:.2f} s = {phase['rate']:,.0f}/s, p50 {phase['p50']:.0f} p99 {phase['p99']:.0f} ms",
                        flush=True,
                    )
        clients.stop()
    return {
        "ingresses": args.ingresses,
        "per_ingress": args.per_ingress,
        "client_procs": args.client_procs,
        "shards": args.shards,
        "messages": args.messages,
        "paced": args.paced,
        "open_files": files,
        "held": clients.opened,
        "open_s": clients.seconds,
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "phases": phases,
    }


def write(figures: dict[str, Any], out: Path) -> None:
    per = figures["per_ingress"]
    rss = zip(figures["rss_before_kib"], figures["rss_idle_kib"], strict=True)
    kib = [(after - before) / per for before, after in rss]
    first = {p["offered"]: p for p in figures["phases"] if p["ingresses"] == 1}  # scaling is against these

    def load(p: dict[str, Any]) -> str:
        if not p["offered"]:
            return "saturation"
        return f"{p['offered']:g}/s each ({p['offered'] * p['connections']:,.0f} deliveries/s)"

    lines = [
        f"# At scale ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores): {figures['ingresses']} ingress "
        f"processes x {per:,} connections, {figures['shards']} shards, {figures['client_procs']} client processes",
        "",
        f"- connections held: **{figures['held']:,}** of {figures['ingresses'] * per:,}, opened in "
        f"{figures['open_s']:.1f} s ({figures['held'] / figures['open_s']:,.0f}/s, handshake + hello, all "
        "ingresses at once)",
        "- RSS per idle connection (deflate negotiated), by ingress: "
        + ", ".join(f"{k:.1f} KiB" for k in kib)
        + f"; ingress RSS when idle: {', '.join(f'{r / 1024:.0f} MiB' for r in figures['rss_idle_kib'])}",
        "",
        f"Delivery: notifications to every educator on the first k ingress processes ({per:,} each), published "
        f"from Ray with {IN_FLIGHT} publishes in flight: at saturation ({figures['messages']} messages, as fast as "
        f"the shards take them) and paced (a fixed rate for {PACED_SECONDS:g} s, each message stamped with the "
        "time it was due).",
        "",
        "| ingress processes | connections | load | delivered | seconds | deliveries/s | scaling vs 1 | p50 ms "
        "| p99 ms | ingress CPU µs / delivery | shards + Ray CPU µs / delivery |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {p['ingresses']} | {p['connections']:,} | {load(p)} | {p['received']:,}/{p['expected']:,} | "
            f"{p['elapsed_s']:.2f} | {p['rate']:,.0f} | {p['rate'] / first[p['offered']]['rate']:.2f} x | "
            f"{p['p50']:.0f} | {p['p99']:.0f} | {1e6 * p['ingress_cpu_s'] / max(1, p['received']):.1f} | "
            f"{1e6 * p['ray_cpu_s'] / max(1, p['received']):.1f} |"
            for p in figures["phases"]
        ),
        "",
        "- scaling vs 1: deliveries/s over the 1-ingress step's of the same load; the load per ingress is the "
        "same at every step, so k x is perfect scaling. At saturation the publisher outruns delivery and the "
        "backlog waits inside the hub: latency there is queueing, the paced steps give latency under load.",
        "",
    ]
    report(lines, out, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 ingress processes x 500 connections")
    parser.add_argument("--ingresses", type=int, default=4)
    parser.add_argument("--per-ingress", type=int, default=12_500)
    parser.add_argument("--client-procs", type=int, default=8)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--messages", type=int, default=20, help="saturation steps: messages to each (0: none)")
    parser.add_argument("--paced", type=float, help="paced steps too: messages/s to each, for 5 s")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a step may take")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.md")
    args = parser.parse_args()
    if args.quick:
        args.ingresses, args.per_ingress, args.client_procs = 2, 500, 2
    write(run(args), args.out)


if __name__ == "__main__":
    main()
