"""Idle CPU of bare Ray actors, no hub code (issue 15, idle hub cost): a sync actor, an async one,
and an async one with a call waiting (as a shard holding an ingress's long poll), over 30 s, in a
local Ray of its own. Each pays Ray's core worker wake-up every 10 ms (CoreWorker.CheckSignal), so
the hub's idle cost grows by about 1 % of a core (2 cores, 2026-11-30) with every actor process.

    python bench/idle_actor.py
"""

from __future__ import annotations

import asyncio
import os
import time

import psutil
import ray

WINDOW = 30.0  # seconds measured, after 10 s of settling


@ray.remote(num_cpus=0)
class SyncActor:
    def ping(self) -> int:
        return os.getpid()


@ray.remote(num_cpus=0)
class AsyncActor:
    async def ping(self) -> int:
        return os.getpid()

    async def wait(self) -> None:
        await asyncio.sleep(WINDOW + 30)


def main() -> None:
    ray.init(address="local", include_dashboard=False, num_cpus=2)
    try:
        actors = {
            "sync": SyncActor.remote(),
            "async": AsyncActor.remote(),
            "async, a call waiting": AsyncActor.remote(),
        }
        procs = {k: psutil.Process(ray.get(a.ping.remote())) for k, a in actors.items()}
        actors["async, a call waiting"].wait.remote()
        time.sleep(10)
        first = {k: sum(p.cpu_times()[:2]) for k, p in procs.items()}
        time.sleep(WINDOW)
        for k, p in procs.items():
            cpu = 100 * (sum(p.cpu_times()[:2]) - first[k]) / WINDOW
            print(f"{k:24s} {cpu:.2f} % of a core, USS {p.memory_full_info().uss / 2**20:.0f} MiB")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
