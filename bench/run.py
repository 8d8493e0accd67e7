"""Every benchmark in one run, then the chart: `make bench` (--quick) and `make bench-full` (--full).

One hub (`hub serve`, its own local Ray) serves every hub workload, in an order that keeps each
measurement honest: idle connections first (the ingress's RSS growth, on a fresh process), then job
start, fan-out, end-to-end latency, streaming against polling, rooms (issue 16) and JSON against
MessagePack (issue 17). Then the bare FastAPI peer (idle connections on its fresh process, then
fan-out) and the python-socketio peer (fan-out). Reports go to bench/results/ (Markdown and JSON),
the chart to bench/results/benchmarks.png. A workload that fails is reported and the others still
run; the exit status says so.

    python bench/run.py --quick
    python bench/run.py --full
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import chart, connections, fanout, job_start, latency, polling, protocols, rooms  # noqa: E402
from bench.common import RESULTS, hub_server, joined_ray, peer_server  # noqa: E402

TIMINGS: dict[str, float] = {}
FAILED: list[str] = []


def step(name: str, work: Callable[[], Any]) -> Any:
    """Run one workload; on failure print why, remember it and go on."""
    print(f"== {name}", flush=True)
    started = time.time()
    try:
        return work()
    except Exception:
        traceback.print_exc()
        FAILED.append(name)
        return None
    finally:
        TIMINGS[name] = time.time() - started
        print(f"== {name}: {TIMINGS[name]:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="small sizes: a few minutes on 2 cores")
    mode.add_argument("--full", action="store_true")
    quick = parser.parse_args().quick
    began = time.time()
    count = connections.size(quick)
    clients, messages = fanout.sizes(quick)
    rates: list[float | None] = [None, *fanout.paced_rates(quick)]
    plan = latency.QUICK if quick else latency.FULL
    jobs, watchers, seconds = polling.sizes(quick)
    start_jobs = 3 if quick else 10

    conns, fans = [], []
    per_token = max(
        2 * latency.CONNECTIONS,
        *(int(m.HUB_ENV["HUB_MAX_CONNECTIONS_PER_TOKEN"]) for m in (rooms, protocols)),
    )
    hub_env = {"HUB_MAX_CONNECTIONS_PER_TOKEN": str(per_token), **connections.HUB_ENV}
    with hub_server(**hub_env) as (base, hub), joined_ray(hub.pid):  # one Ray join for every workload
        TIMINGS["hub start"] = time.time() - began
        conns.append(step("connections: hub", lambda: connections.measure_hub(base, hub.pid, count)))
        started = step("job start", lambda: job_start.run(base, hub.pid, start_jobs, 5))
        fans.append(step("fan-out: hub", lambda: fanout.measure_hub(base, hub.pid, clients, messages, rates=rates)))
        lat = step("latency", lambda: latency.measure(base, hub.pid, plan))
        polled = step("streaming vs polling", lambda: polling.measure(base, hub.pid, jobs, watchers, seconds))
        roomed = step("rooms", lambda: rooms.measure(base, hub.pid, quick))
        coded = step("JSON vs MessagePack", lambda: protocols.measure(base, hub.pid, quick))
    with peer_server() as (base, bare):
        conns.append(step("connections: bare FastAPI", lambda: connections.measure_bare(base, bare.pid, count)))
        fans.append(
            step("fan-out: bare FastAPI", lambda: fanout.measure_peer(base, bare.pid, clients, messages, rates=rates))
        )
    with peer_server(socketio=True) as (base, sio):
        fans.append(
            step(
                "fan-out: python-socketio",
                lambda: fanout.measure_peer(base, sio.pid, clients, messages, True, rates=rates),
            )
        )

    if all(conns):
        connections.write(conns, count, RESULTS / "connections.md")
    if started:
        job_start.write(started, RESULTS / "job_start.md")
    if fans[0]:
        fanout.write([row for rows in fans if rows for row in rows], clients, messages, RESULTS / "fanout.md")
    if lat:
        latency.write(lat, RESULTS / "latency.md")
    if polled:
        polling.write(polled, jobs, watchers, seconds, RESULTS / "polling.md")
    if roomed:
        rooms.write(roomed, RESULTS / "rooms.md")
    if coded:
        protocols.write(coded, RESULTS / "protocols.md")
    step("chart", chart.draw)
    print("\n".join(f"{name}: {took:.0f} s" for name, took in TIMINGS.items()))
    print(f"total: {time.time() - began:.0f} s" + (f"; FAILED: {', '.join(FAILED)}" if FAILED else ""))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
