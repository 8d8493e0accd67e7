"""Job start latency: POST /api/jobs -> first `queued` frame, first `processing` frame, `completed`.

Runs the hub (`hub serve` with its own local Ray), submits jobs one after another while a real
WebSocket client listens, and reports medians beside two baselines measured in the same run:
an empty HTTP round trip (GET /healthz) and starting a bare Ray actor (on the hub's Ray) and
calling it once. Then the cost of an idempotent repeat (PROTOCOL.md section 9: `POST /api/jobs` with
an `Idempotency-Key` the hub already holds, answered 200 with the first job and starting nothing),
timed alternately with the empty round trip in the same run (target: at most 2 x).

Then, joined to the hub's Ray: the memory at rest of the warm job monitors (Settings.monitor_pool:
the RSS and USS of each `ray::WarmMonitorActor` process, against one bare actor's), and the restart
case: a job whose monitor is lost (its process killed, which Ray handles as a lost node: the monitor
restarts and its retried `run_job` runs the job again), timed from the loss to `completed`, once
lost before any item was done and once after half of them (with the items the hub kept then:
`itemsDone` in the job state, where the hub keeps them; none kept: the run starts over).

    python bench/job_start.py [--jobs 10] [--questions 5] [--pool N] [--out bench/results/job_start.md]

`--pool N` runs the hub with HUB_MONITOR_POOL=N (0: every job starts its own monitor, the hub before
warm monitors); without it, the hub's default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import RESULTS, ROOT, SECRET, hub_server, joined_ray, report  # noqa: E402

DOC = (ROOT / "tests" / "data" / "photosynthesis.txt").read_text()


class Listener:
    """Timestamps each job's first frame of every status as it arrives, independent of the POST."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.seen: dict[tuple[str, str], float] = {}
        self.changed = asyncio.Event()

    async def run(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            for env in json.loads(raw).get("messages", []):
                if "jobId" not in env["data"]:
                    continue  # the educator's analytics after a job: not a job message
                key = (env["data"]["jobId"], env["data"]["status"])
                self.seen.setdefault(key, now)
                if key[1] == "failed":
                    raise RuntimeError(env["data"])
            self.changed.set()


async def one_job(http: httpx.AsyncClient, listener: Listener, questions: int) -> dict[str, float]:
    t0 = time.perf_counter()
    reply = await http.post(
        "/api/jobs", json={"kind": "quiz_generation", "params": {"text": DOC, "numQuestions": questions}}
    )
    marks: dict[str, float] = {"http_202": time.perf_counter() - t0}
    job_id = reply.json()["jobId"]
    while (job_id, "completed") not in listener.seen:
        listener.changed.clear()
        await asyncio.wait_for(listener.changed.wait(), 60)
    for status in ("queued", "processing", "completed"):
        marks[status] = listener.seen[(job_id, status)] - t0
    return marks


async def idempotent_repeats(http: httpx.AsyncClient, listener: Listener, questions: int, runs: int) -> dict:
    """Submit one job under an Idempotency-Key, wait for it to complete, then time `runs` repeats of that
    submission (each must be 200 with the same jobId), each followed by an empty round trip
    (GET /healthz) so that both see the same machine. Seconds each: {"repeat": [...], "rtt": [...]}."""
    body = {"kind": "quiz_generation", "params": {"text": DOC, "numQuestions": questions}}
    key = {"Idempotency-Key": f"bench-{time.time_ns()}"}
    first = await http.post("/api/jobs", json=body, headers=key)
    job_id = first.json()["jobId"]
    while (job_id, "completed") not in listener.seen:
        listener.changed.clear()
        await asyncio.wait_for(listener.changed.wait(), 60)
    repeat, rtt = [], []
    for _ in range(runs + 5):  # the first 5 warm up
        t0 = time.perf_counter()
        reply = await http.post("/api/jobs", json=body, headers=key)
        t1 = time.perf_counter()
        await http.get("/healthz")
        t2 = time.perf_counter()
        if reply.status_code != 200 or reply.json()["jobId"] != job_id:
            raise RuntimeError(f"an idempotent repeat answered {reply.status_code}: {reply.text}")
        repeat.append(t1 - t0)
        rtt.append(t2 - t1)
    return {"repeat": repeat[5:], "rtt": rtt[5:]}


def actor_start_baseline(runs: int) -> tuple[list[float], dict[str, float]]:
    """Seconds to start a bare actor and call it once, `runs` times; and the memory of one at rest
    (memory_of: its process's RSS and USS, MiB)."""
    import ray

    @ray.remote(num_cpus=0)
    class Bare:
        def ping(self) -> int:
            return 1

    times = []
    memory: dict[str, float] = {}
    for k in range(runs):
        t0 = time.perf_counter()
        actor = Bare.remote()  # type: ignore[attr-defined]
        ray.get(actor.ping.remote())
        times.append(time.perf_counter() - t0)
        if k == runs - 1:
            time.sleep(1.0)
            found = memory_of("ray::Bare")
            memory = found[0] if found else {}
        ray.kill(actor)
    return times, memory


def memory_of(title: str) -> list[dict[str, float]]:
    """RSS and USS (MiB) of each process whose command line (its Ray process title) starts with `title`.
    USS counts only the pages that process alone holds: what ending it would give back."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if " ".join(proc.info["cmdline"] or []).startswith(title):
                info = proc.memory_full_info()
                found.append({"rss": info.rss / 2**20, "uss": info.uss / 2**20})
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def warm_at_rest(settle: float = 3.0) -> list[dict[str, float]]:
    """The warm monitors' memory (memory_of) once the pool has refilled after the jobs."""
    time.sleep(settle)
    return memory_of("ray::WarmMonitorActor")


async def restart_case(url: str, token: str, questions: int, at_progress: float) -> dict[str, Any]:
    """One `quiz_generation` job of `questions` questions whose monitor is lost (ray.kill, restarted by
    Ray as after losing its node) once its progress reaches `at_progress` % (0: at its first
    `processing` frame). Seconds from the loss to `completed`, the items the hub holds done at the
    loss (`itemsDone`, None where the hub keeps none) and the attempt it completed as."""
    import ray

    from actors.names import job_actor_name
    from bench.common import NAMESPACE

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        async with connect(url.replace("http", "ws", 1) + "/ws", compression="deflate") as ws:
            await ws.send(json.dumps({"op": "hello", "token": token}))
            await ws.recv()
            body = {"kind": "quiz_generation", "params": {"text": DOC, "numQuestions": questions}}
            job_id = (await http.post("/api/jobs", json=body)).json()["jobId"]
            lost_at = None
            async for raw in ws:
                for env in json.loads(raw).get("messages", []):
                    data = env["data"]
                    if data.get("jobId") != job_id:
                        continue
                    if data["status"] in ("failed", "cancelled"):
                        raise RuntimeError(data)
                    if lost_at is None and data["status"] == "processing" and data["progress"] >= at_progress:
                        state = (await http.get(f"/api/jobs/{job_id}")).json()
                        done = state.get("itemsDone")
                        ray.kill(ray.get_actor(job_actor_name(job_id), namespace=NAMESPACE), no_restart=False)
                        lost_at = time.perf_counter()
                    if lost_at is not None and data["status"] == "completed":
                        final = (await http.get(f"/api/jobs/{job_id}")).json()
                        return {
                            "seconds": time.perf_counter() - lost_at,
                            "progress_at_loss": at_progress,
                            "items_done_at_loss": None
                            if done is None
                            else len(done)
                            if isinstance(done, list)
                            else done,
                            "attempt": final.get("attempt"),
                        }
    raise RuntimeError("the stream ended before the job completed")


async def measure(
    url: str, token: str, jobs: int, questions: int
) -> tuple[list[dict[str, float]], list[float], dict[str, list[float]]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        rtts = []
        for _ in range(20):
            t0 = time.perf_counter()
            await http.get("/healthz")
            rtts.append(time.perf_counter() - t0)
        async with connect(url.replace("http", "ws", 1) + "/ws", compression="deflate") as ws:
            await ws.send(json.dumps({"op": "hello", "token": token}))
            await ws.recv()
            listener = Listener(ws)
            reader = asyncio.ensure_future(listener.run())
            await one_job(http, listener, questions)  # warm-up: imports, worker processes
            results = [await one_job(http, listener, questions) for _ in range(jobs)]
            repeats = await idempotent_repeats(http, listener, questions, runs=50)
            reader.cancel()
    return results, rtts, repeats


def ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.0f} ms (min {1000 * min(values):.0f}, max {1000 * max(values):.0f})"


def run(
    base: str, hub_pid: int, jobs: int, questions: int, pool: int | None = None, restart_questions: int = 20
) -> dict[str, Any]:
    """Everything the report holds (write): the jobs' marks, the baselines, the idempotent repeats,
    then, joined to the hub's Ray, the warm monitors' memory, a bare actor's, and the restart case
    (lost at 0 % and at 50 %) with jobs of `restart_questions` questions. `pool`: the hub's
    HUB_MONITOR_POOL, for the report (None: its default)."""
    from hub.auth import issue_token

    token = issue_token(SECRET, "bench", ttl=3600, now=time.time())
    results, rtts, repeats = asyncio.run(measure(base, token, jobs, questions))
    with joined_ray(hub_pid):
        warm = warm_at_rest()
        actor, bare_memory = actor_start_baseline(min(jobs, 5))
        restarts = [asyncio.run(restart_case(base, token, restart_questions, at)) for at in (0.0, 50.0)]
    return {
        "pool": pool,
        "warm_memory": warm,
        "bare_memory": bare_memory,
        "restarts": restarts,
        "restart_questions": restart_questions,
        "jobs": jobs,
        "questions": questions,
        "results": results,
        "rtts": rtts,
        "actor": actor,
        "repeats": repeats,
    }


def write(result: dict[str, Any], out: Path) -> None:
    results, rtts, actor = result["results"], result["rtts"], result["actor"]
    col = {k: [r[k] for r in results] for k in ("http_202", "queued", "processing", "completed")}
    base_actor = statistics.median(actor)
    base_http = statistics.median(rtts)
    lines = [
        f"# Job start latency ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()})",
        "",
        f"{result['jobs']} `quiz_generation` jobs of {result['questions']} questions, one after another, "
        "timed from sending `POST /api/jobs`.",
        "",
        "| from POST to | median (min, max) | ratio to its baseline |",
        "|---|---|---|",
        *(
            f"| {label} | {ms(col[key])} | {statistics.median(col[key]) / base:.2f} x {base_name} |"
            for label, key, base, base_name in (
                ("the 202 reply", "http_202", base_http, "empty HTTP round trip"),
                ("first `queued` frame", "queued", base_http, "empty HTTP round trip"),
                ("first `processing` frame", "processing", base_actor, "bare actor start + call"),
                ("`completed` frame", "completed", base_actor, "bare actor start + call"),
            )
        ),
        "",
        f"Baselines in the same run: empty HTTP round trip (GET /healthz) {ms(rtts)}; "
        f"bare Ray actor start + one call {ms(actor)}.",
        "",
    ]
    repeats = result["repeats"]
    repeat_ratio = statistics.median(repeats["repeat"]) / statistics.median(repeats["rtt"])
    lines += [
        f"Idempotent repeat (`POST /api/jobs` with an `Idempotency-Key` the hub holds: 200, the first job, "
        f"nothing started), {len(repeats['repeat'])} times, each followed by an empty round trip: "
        f"{ms(repeats['repeat'])} against GET /healthz {ms(repeats['rtt'])}: **{repeat_ratio:.2f} x** "
        "(target at most 2 x).",
        "",
    ]
    medians = {k: 1000 * statistics.median(v) for k, v in col.items()}
    medians["idempotent_repeat"] = 1000 * statistics.median(repeats["repeat"])
    baselines = {
        "http_round_trip": 1000 * base_http,
        "actor_start": 1000 * base_actor,
        "http_round_trip_beside_repeats": 1000 * statistics.median(repeats["rtt"]),
    }
    extra = {"idempotent_repeat_ratio": round(repeat_ratio, 2)}
    pool = "the hub's default" if result["pool"] is None else str(result["pool"])
    processing_ratio = statistics.median(col["processing"]) / base_actor
    lines += [
        f"Warm job monitors (HUB_MONITOR_POOL: {pool}): first `processing` frame at **{processing_ratio:.2f} x** "
        "a bare actor start + call (target at most 0.25 x).",
        "",
    ]
    warm, bare = result["warm_memory"], result["bare_memory"]
    if warm and bare:
        rss, uss = sum(w["rss"] for w in warm), sum(w["uss"] for w in warm)
        lines += [
            f"Memory at rest: {len(warm)} warm monitor processes, RSS {rss:.0f} MiB in all "
            f"({rss / len(warm):.0f} each), USS {uss:.0f} MiB ({uss / len(warm):.0f} each); one bare actor: "
            f"RSS {bare['rss']:.0f} MiB, USS {bare['uss']:.0f} MiB: **{uss / len(warm) / bare['uss']:.2f} x** "
            "a bare actor's USS per warm monitor.",
            "",
        ]
    else:
        lines += [f"Memory at rest: {len(warm)} warm monitor processes (none: the hub runs without a pool).", ""]
    lines += [
        f"Restart case: a `quiz_generation` job of {result['restart_questions']} questions whose monitor is lost "
        "(its process killed; Ray restarts it as after a lost node and its retried `run_job` runs the job again), "
        "time from the loss to `completed`:",
        "",
        "| lost at | items kept at the loss | loss to `completed` | completed as attempt |",
        "|---|---|---|---|",
        *(
            f"| {r['progress_at_loss']:.0f} % | "
            f"{'none (this hub keeps no items)' if r['items_done_at_loss'] is None else r['items_done_at_loss']} | "
            f"{1000 * r['seconds']:.0f} ms | {r['attempt']} |"
            for r in result["restarts"]
        ),
        "",
    ]
    memory = {
        "warm_monitors": len(warm),
        "warm_rss_mib": round(sum(w["rss"] for w in warm), 1),
        "warm_uss_mib": round(sum(w["uss"] for w in warm), 1),
        "bare_actor_rss_mib": round(bare.get("rss", float("nan")), 1),
        "bare_actor_uss_mib": round(bare.get("uss", float("nan")), 1),
    }
    report(
        lines,
        out,
        {
            "jobs": result["jobs"],
            "pool": result["pool"],
            "median_ms": medians,
            "baseline_ms": baselines,
            **extra,
            "processing_ratio": round(processing_ratio, 2),
            "memory_at_rest": memory,
            "restart": [{**r, "seconds": round(r["seconds"], 3)} for r in result["restarts"]],
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--pool", type=int, default=None, help="HUB_MONITOR_POOL for the hub (default: its own)")
    parser.add_argument("--restart-questions", type=int, default=20, help="questions of the restart case's jobs")
    parser.add_argument("--out", type=Path, default=RESULTS / "job_start.md")
    args = parser.parse_args()
    env = {} if args.pool is None else {"HUB_MONITOR_POOL": str(args.pool)}
    with hub_server(**env) as (base, hub):
        result = run(base, hub.pid, args.jobs, args.questions, args.pool, args.restart_questions)
    write(result, args.out)


if __name__ == "__main__":
    main()
