"""How many job-state publishes one registry shard applies per second, from 10 publishing processes,
over Ray calls (the hub before the data plane) and over the shard's data plane, in the same run.

The hub's real parts: its job store actor (a temporary database) and one RegistryShardActor (default
ShardConfig: data plane on), and in each of 10 publisher actors (separate processes, as job
monitors are) an actors.handles.ShardClient on that shard, one with the data plane (same node: the
loopback port) and one without (DataPlaneConfig off: Ray calls). Each publisher stands for one job's
monitor (actors.job_monitor.JobMonitor._send): it publishes its job `queued`, then `processing`
(transitions, before the window), then, in each window, `processing` ticks (a JobState wire dict:
progress, message, etaSeconds, updatedAt new each time) one publish in flight at a time, as fast as
the replies come. Each publisher is named as its job's monitor actor (`hub-job-<job id>`) and
answers `wait_done` as one, so the shard watches it as it watches a monitor (and does not fail the
job as one whose monitor is gone).

    python bench/shard_ingest.py [--publishers 10] [--seconds 10] [--runs 2] [--profile]

Windows alternate (Ray calls, data plane, Ray calls, ...), `--runs` of each. Per window: the publishes
the shard applied per second (ShardStats.published's change; the publishers' replies are checked
against it), the shard process's CPU (user + system, all threads) in cores and per publish, the
publishers' CPU per publish, and every other process of the run (Ray's daemons, the store, the
driver) by role. "x Ray" is applied publishes/s against the mean of the same run's Ray-call windows.
On a machine with fewer cores than processes the publishers and the shard share the cores, so
the shard's CPU per publish (and 1 / it: what the shard would apply with a core to itself) is the
figure that carries to a bigger machine. `--profile`: cProfile of the shard's event-loop thread
(its CPU time: time.thread_time) over one more window of each mode (top functions by own and by
cumulative time). Figures: docs/benchmarks.md,
"One shard's publish intake".
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (  # noqa: E402
    DELIVERY_ROLES,
    INGRESS,
    RESULTS,
    RoleCpu,
    cpu_seconds,
    init_local_ray,
    report,
)

# The processes besides the shard and the publishers whose CPU a window reports: this driver, the
# job store, Ray's daemons and its idle workers.
OTHERS = (DELIVERY_ROLES - {"registry shard"}) | {"idle Ray worker"}

NAMESPACE = "bench-shard-ingest"
RAY, PLANE = "ray", "dataplane"
LABELS = {RAY: "Ray calls (dataplane off)", PLANE: "data plane (websockets, loopback)"}


def make_actors(publishers: int, db_path: str) -> tuple[Any, Any, list[Any]]:
    """The store, the shard (RegistryShardActor, with cProfile hooks) and `publishers` publishers."""
    import ray

    from actors.handles import JobStoreActor, RegistryShardActor, ShardClient
    from actors.names import STORE_NAME, job_actor_name, shard_name
    from hub.core.config import DataPlaneConfig, ShardConfig
    from hub.core.jobstate import JobState

    class ProfiledShard(RegistryShardActor.__ray_actor_class__):  # type: ignore[attr-defined,name-defined,misc]
        """The hub's shard actor as it is, plus its pid and a cProfile of its event loop's thread."""

        async def pid(self) -> int:
            return os.getpid()

        async def profile_start(self) -> None:
            self._profile = cProfile.Profile(time.thread_time)  # CPU, not wall time: the GIL waits left out
            self._profile.enable()

        async def profile_stop(self, top: int) -> str:
            self._profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(self._profile, stream=out)
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
            return out.getvalue()

    @ray.remote(num_cpus=0)
    class Publisher:
        """One job's publishes, as its monitor makes them, through a ShardClient with the data plane
        and one without."""

        def __init__(self, shard: Any, k: int) -> None:
            self.clients = {RAY: ShardClient(shard, 0), PLANE: ShardClient(shard, 0, dataplane=DataPlaneConfig())}
            now = time.time()
            self.state = JobState(
                job_id=f"bench-ingest-{k}",
                kind="quiz_generation",
                educator_id=f"educator-{k}",
                quiz_id=f"quiz-{k}",
                created_at=now,
                updated_at=now,
            )
            self.started = now
            self.done = asyncio.Event()

        async def pid(self) -> int:
            return os.getpid()

        async def wait_done(self) -> None:
            """As a job monitor's: returns when the job has ended (never, here)."""
            await self.done.wait()

        async def start(self) -> list[int]:
            """`queued`, then `processing` (over Ray), then one tick over the data plane (it connects);
            returns the seqs (all > 0)."""
            seqs = (await self.clients[RAY].publish([self.state.wire()])).seqs
            self.state = self.state.advance(time.time(), status="processing", message="Started")
            seqs += (await self.clients[RAY].publish([self.state.wire()])).seqs
            seqs += (await self.clients[PLANE].publish([self.tick(1)])).seqs
            plane = self.clients[PLANE].plane
            assert plane is not None and plane.connects == 1 and not plane.fallback_calls
            return seqs

        def tick(self, n: int) -> dict[str, Any]:
            """A `processing` tick's wire dict, as JobMonitor.progress makes one (JobState.advance
            would check the transition again: the monitor's work, not the shard's)."""
            now = time.time()
            update = self.state.wire()
            percent = 1.0 + n % 98
            update.update(
                progress=percent,
                message=f"Generating question {n % 10 + 1} of 10",
                etaSeconds=(now - self.started) * (100 - percent) / percent,
                updatedAt=now,
            )
            return update

        async def run(self, mode: str, seconds: float) -> tuple[int, int]:
            """Publish ticks one at a time for `seconds`; returns (publishes answered, refused: seq 0)."""
            client = self.clients[mode]
            done = refused = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                reply = await client.publish([self.tick(done)])
                done += 1
                refused += reply.seqs.count(0)
            plane = self.clients[PLANE].plane
            assert plane is not None and not plane.fallback_calls, "a data-plane publish fell back to Ray"
            return done, refused

    store = JobStoreActor.options(name=STORE_NAME, namespace=NAMESPACE).remote(db_path, NAMESPACE, 5.0)  # type: ignore[attr-defined]
    ray.get(store.ping.remote())
    shard = (
        ray.remote(num_cpus=0)(ProfiledShard)
        .options(name=shard_name(0), namespace=NAMESPACE)
        .remote(0, ShardConfig(), NAMESPACE)
    )
    pubs = [
        Publisher.options(name=job_actor_name(f"bench-ingest-{k}"), namespace=NAMESPACE).remote(shard, k)  # type: ignore[attr-defined]
        for k in range(publishers)
    ]
    return store, shard, pubs


async def window(shard: Any, shard_pid: int, pubs: list[Any], pub_pids: list[int], mode: str, seconds: float) -> dict:
    """One window of `seconds` in `mode`: its figures (see the module docstring)."""
    before = await shard.stats.remote()
    shard_cpu, pubs_cpu = cpu_seconds(shard_pid), sum(cpu_seconds(p) for p in pub_pids)
    with RoleCpu(os.getpid(), roles=OTHERS) as tree:
        t0 = time.time()
        answered = await asyncio.gather(*(p.run.remote(mode, seconds) for p in pubs))
        took = time.time() - t0
    shard_cpu, pubs_cpu = cpu_seconds(shard_pid) - shard_cpu, sum(cpu_seconds(p) for p in pub_pids) - pubs_cpu
    after = await shard.stats.remote()
    applied = after.published - before.published
    replies = sum(a for a, _ in answered)
    refused = sum(r for _, r in answered)
    assert refused == 0, f"{refused} publishes refused"
    assert replies == applied, f"{replies} replies but {applied} applied"
    # RoleCpu names the process it starts from (this driver) INGRESS; the shard and the publishers
    # (their own figures above) are not among OTHERS
    others = {("driver" if r == INGRESS else r): c for r, c in tree.by_role.items()}
    return {
        "mode": mode,
        "seconds": took,
        "applied": applied,
        "per_second": applied / took,
        "shard_cores": shard_cpu / took,
        "shard_us": 1e6 * shard_cpu / max(applied, 1),
        "publishers_us": 1e6 * pubs_cpu / max(applied, 1),
        "others_us": {r: 1e6 * c / max(applied, 1) for r, c in sorted(others.items())},
    }


async def measure(publishers: int, seconds: float, runs: int, profile: bool) -> tuple[list[dict], dict[str, str]]:
    """Start one local Ray with the store, the shard and the publishers; alternate the modes' windows
    `runs` times; with `profile`, one more profiled window of each. Ray is shut down after."""
    import ray

    init_local_ray(NAMESPACE)
    data = tempfile.TemporaryDirectory()
    try:
        store, shard, pubs = make_actors(publishers, os.path.join(data.name, "jobs.db"))
        shard_pid = await shard.pid.remote()
        pub_pids = list(await asyncio.gather(*(p.pid.remote() for p in pubs)))
        for seqs in await asyncio.gather(*(p.start.remote() for p in pubs)):
            assert all(seqs), f"a start-up publish was refused: {seqs}"
        for mode in (RAY, PLANE):  # warm both
            await asyncio.gather(*(p.run.remote(mode, 1.0) for p in pubs))
        rows = []
        for _ in range(runs):
            for mode in (RAY, PLANE):
                rows.append(await window(shard, shard_pid, pubs, pub_pids, mode, seconds))
                print(_line(len(rows), rows[-1], float("nan")), flush=True)
        profiles = {}
        if profile:
            for mode in (RAY, PLANE):
                await shard.profile_start.remote()
                await window(shard, shard_pid, pubs, pub_pids, mode, seconds)
                profiles[mode] = await shard.profile_stop.remote(25)
        del store
        return rows, profiles
    finally:
        ray.shutdown()
        data.cleanup()


def _line(n: int, row: dict, base: float) -> str:
    others = ", ".join(f"{r} {us:.0f}" for r, us in row["others_us"].items() if us >= 0.5)
    return (
        f"| {n} | {LABELS[row['mode']]} | {row['seconds']:.1f} | {row['applied']} | {row['per_second']:,.0f} "
        f"| {row['per_second'] / base:.2f} | {row['shard_cores']:.2f} | {row['shard_us']:.0f} "
        f"| {1e6 / row['shard_us']:,.0f} | {row['publishers_us']:.0f} | {others} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishers", type=int, default=10, help="publishing processes (10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per window (10)")
    parser.add_argument("--runs", type=int, default=2, help="windows of each mode, alternating (2)")
    parser.add_argument("--profile", action="store_true", help="cProfile the shard over one more window each")
    args = parser.parse_args()
    print(f"{args.publishers} publishers, {args.seconds:g} s windows, {os.cpu_count()} cores\n", flush=True)
    rows, profiles = asyncio.run(measure(args.publishers, args.seconds, args.runs, args.profile))
    ray_rate = [r["per_second"] for r in rows if r["mode"] == RAY]
    base = sum(ray_rate) / len(ray_rate)
    lines = [
        f"# One shard's publish intake ({args.publishers} publishers, {args.seconds:g} s windows, "
        f"{os.cpu_count()} cores)",
        "",
        "| window | channel | seconds | applied | publishes/s | x Ray | shard cores | shard CPU us/publish "
        "| shard alone: publishes/s per core | publishers CPU us/publish | others us/publish |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(_line(n, row, base) for n, row in enumerate(rows, 1)),
    ]
    plane = [r["per_second"] for r in rows if r["mode"] == PLANE]
    shard_us = {m: [r["shard_us"] for r in rows if r["mode"] == m] for m in (RAY, PLANE)}
    # each data-plane window against the Ray window just before it
    windows = zip(rows[::2], rows[1::2], strict=True)  # (Ray, data plane), alternating
    pairs = [(b["per_second"] / a["per_second"], b["shard_us"] / a["shard_us"]) for a, b in windows]
    lines += [
        "",
        f"Data plane against Ray calls, same run: publishes/s {sum(plane) / len(plane) / base:.2f} x (means); each "
        f"data-plane window against the Ray window before it {min(p for p, _ in pairs):.2f} to "
        f"{max(p for p, _ in pairs):.2f} x; the shard's CPU per publish {min(c for _, c in pairs):.2f} to "
        f"{max(c for _, c in pairs):.2f} x (means: {sum(shard_us[PLANE]) / sum(shard_us[RAY]):.2f} x).",
    ]
    for mode, text in profiles.items():
        lines += ["", f"## cProfile of the shard's event-loop thread, {LABELS[mode]}", "", "```", text.strip(), "```"]
    report(lines, RESULTS / "shard_ingest.md", {"rows": rows})


if __name__ == "__main__":
    main()
