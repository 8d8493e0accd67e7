"""JSON or MessagePack (issue 17, PROTOCOL.md section 8): bytes on the wire and CPU per delivery, with
and without permessage-deflate, measured on the real hub in one run.

Four cells: `hub.v1` (JSON text frames) and `hub.v1.msgpack` (MessagePack binary frames), each with
and without permessage-deflate, as clients on the `websockets` library ask for them
(bench/protocol_clients.py). Every cell's connections stay open for the whole run; the cells are
measured one after another in rounds that reverse the order (ABCD DCBA ...), so a drift of the shared
machine favours none, and each figure is the median over the rounds.

1. Fan-out of a realistic `quiz_status` progress stream (hub.core.jobstate.message_for of a 50-question
   quiz_generation job: progress, "Generating question k of 50: <step>", etaSeconds), `messages`
   messages at `rate` a second (plan: slow enough for a frame a message), each to `conns` connections a
   cell, in two shapes: one educator with `conns` connections (one envelope a message: the ingress packs
   it once for all, hub.core.codecs) and `conns` educators with one connection each (an envelope per
   educator: packed once per delivery). The
   messages enter at the registry shards, as job monitors' do (`publish_message` over the data plane):
   `POST /api/publish` carries only analytics_update and notification, and its request parsing would be
   ingress CPU that is the same in every cell.
2. A 50-question quiz result (a real quiz_generation job on bench/quiz_source.py's text: prompt, 4
   options on the multiple-choice half, answer, source sentence, explanation): `GET
   /api/jobs/{id}/result` as JSON and with `Accept: application/msgpack` (raw bytes; the hub has no
   HTTP compression, so the zlib-deflated size, level 6, is computed here for reference), and the same
   result in one WebSocket message (an analytics_update `{"updates": {"quiz": result}}`, `large_messages`
   of them at `large_rate` a second to one educator's `large_conns` connections, entering at the shard
   as above) per cell.

Figures: bytes read from each client's TCP socket (frame headers and payloads, compressed where
deflate is on) per delivery; the ingress process's CPU (bench.common.RoleCpu: its threads' exact
scheduler time) over each window, less the idle ingress's over as long, per delivery; the client
processes' CPU per delivery and the part of it spent decoding frames (json.loads or msgpack.unpackb);
and, in this process, the hub's own encoding functions timed alone (server encode per delivery) and
the clients' decoding of the same frames.

    python bench/protocols.py --quick    # what `make bench` runs (bench/run.py): about 70 s on 2 cores
    python bench/protocols.py            # 100 connections a cell and shape, 250 messages: about 4 minutes
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import INGRESS, NAMESPACE, SECRET, RoleCpu, joined_ray, offer, run_alone  # noqa: E402
from bench.protocol_clients import CELLS, ClientPool  # noqa: E402
from bench.protocols_micro import median_cpu_us, micro  # noqa: E402
from bench.protocols_report import write  # noqa: E402

HUB_ENV = {"HUB_MAX_CONNECTIONS_PER_TOKEN": "100"}  # one educator's CONNS connections (run.py's hub allows 100)
QUIZ_QUESTIONS = 50
IDLE_SECONDS = 2.0  # the idle ingress's CPU is measured over this long, and taken off each window's


def plan(quick: bool) -> dict[str, int]:
    """Sizes: connections a cell and shape, messages a window and their rate, rounds, the large result's
    connections, messages and their rate, GETs of each format. Quick: about a minute on 2 cores (with the 50-question
    job); the rate is low enough that each message goes in a frame of its own on a quiet machine (a busy
    one batches some: the reports' frames / delivery)."""
    if quick:
        return {
            "conns": 50,
            "messages": 50,
            "rate": 50,
            "rounds": 4,
            "large_conns": 5,
            "large_messages": 40,
            "large_rate": 40,
            "gets": 20,
        }
    return {
        "conns": 100,
        "messages": 250,
        "rate": 50,
        "rounds": 4,
        "large_conns": 10,
        "large_messages": 100,
        "large_rate": 40,
        "gets": 50,
    }


def order(rounds: int) -> list[list[str]]:
    """The cells in each round: ABCD, DCBA, ABCD, ..."""
    cells = list(CELLS)
    return [cells if n % 2 == 0 else cells[::-1] for n in range(rounds)]


def progress_stream(count: int) -> list[dict[str, Any]]:
    """`count` quiz_status `data` objects of a 50-question quiz_generation job, in the order its monitor
    publishes them (jobs.quiz_job.run, hub.core.jobstate.message_for): for each question its three steps
    ("Generating question k of 50: choosing the key term", ...) and then "Generated k of 50 questions",
    progress from 10 to 95 %, the ETA going down; past the 200th, from the start again."""
    from hub.core.jobstate import JobState, message_for
    from jobs.quiz import STEPS

    now = time.time()
    out = []
    for i in range(count):
        question, step = divmod(i % (4 * QUIZ_QUESTIONS), 4)  # 3 steps, then the question is done
        done = question + (1.0 if step == 3 else step / 3)  # questions done, in fractions
        if step == 3:
            message = f"Generated {question + 1} of {QUIZ_QUESTIONS} questions"
        else:
            message = f"Generating question {question + 1} of {QUIZ_QUESTIONS}: {STEPS[step].lower()}"
        state = JobState(
            job_id="job-3f2a9c41d7e0",
            kind="quiz_generation",
            educator_id="e",
            quiz_id="quiz-8c1d2e3f4a5b",
            status="processing",
            progress=10 + 85 * done / QUIZ_QUESTIONS,
            message=message,
            created_at=now,
            updated_at=now,
            eta_seconds=max(0.5, 40 * (1 - done / QUIZ_QUESTIONS)),
        )
        out.append(message_for(state)[1])
    return out


def quiz_result(base: str, timeout: float = 180) -> tuple[str, str]:
    """A completed 50-question quiz_generation job of a fresh educator: (its id, that educator's token)."""
    from bench.quiz_source import ASTRONOMY
    from hub.auth import issue_token

    token = issue_token(SECRET, "bench-quiz-author", ttl=3600, now=time.time())
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        params = {"text": ASTRONOMY, "numQuestions": QUIZ_QUESTIONS}
        reply = http.post("/api/jobs", json={"kind": "quiz_generation", "params": params})
        assert reply.status_code == 202, reply.text
        job = reply.json()["jobId"]
        deadline = time.monotonic() + timeout
        while (state := http.get(f"/api/jobs/{job}").json())["status"] != "completed":
            assert state["status"] in ("queued", "processing") and time.monotonic() < deadline, state
            time.sleep(0.25)
    return job, token


def http_result(base: str, pid: int, job: str, token: str, gets: int) -> dict[str, Any]:
    """GET /api/jobs/{job}/result as JSON and as MessagePack: body bytes, zlib-deflated bytes (level 6,
    for reference: the hub does not compress HTTP answers), the ingress CPU per GET (`gets` of each,
    alternating) and this process's decode of the body (microseconds, median of 200)."""
    import json
    import zlib

    import msgpack

    accept = {"json": "application/json", "msgpack": "application/msgpack"}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for kind, media in accept.items():
            reply = http.get(f"/api/jobs/{job}/result", headers={"Accept": media})
            assert reply.status_code == 200 and reply.headers["content-type"].startswith(media), reply.headers
            body = reply.content
            load = json.loads if kind == "json" else msgpack.unpackb
            out[kind] = {
                "bytes": len(body),
                "deflated_bytes": len(zlib.compress(body, 6)),
                "decode_us": median_cpu_us([partial(load, body)] * 200),
                "cpu_s": [],
            }
        for n in range(2 * gets):  # alternating, each timed alone
            kind = "json" if n % 2 == 0 else "msgpack"
            with RoleCpu(pid, frozenset({INGRESS})) as cpu:
                assert http.get(f"/api/jobs/{job}/result", headers={"Accept": accept[kind]}).status_code == 200
            out[kind]["cpu_s"].append(cpu.seconds)
    for figures in out.values():
        figures["ingress_us_per_get"] = 1e6 * statistics.median(figures.pop("cpu_s"))
    return out


async def _windows(
    pool: ClientPool, pid: int, groups: dict[str, tuple[str, list[str]]], publish: Any, p: dict[str, Any], idle: float
) -> list[dict[str, Any]]:
    """Every window: for each group (its cell's key, its educators), `p["messages"]` publishes at
    `p["rate"]`, each connection expecting all of them; the ingress CPU over the window (`ingress_s`: less
    `idle`, the idle ingress's CPU seconds a second, times the window's length)."""
    rows = []
    for round_no, cells in enumerate(order(p["rounds"])):
        for cell in cells:
            for name, (group_cell, educators) in groups.items():
                if group_cell != cell:
                    continue
                seconds = p["messages"] / p["rate"] + 60
                pool.arm(name, p["messages"], seconds)

                async def send(i: int, _stamp: float, educators: list[str] = educators) -> None:
                    await publish(educators, i)

                with RoleCpu(pid, frozenset({INGRESS})) as cpu:
                    t0 = time.time()
                    await offer(send, p["messages"], p["rate"], 8)
                    got = pool.collect(seconds + 30)
                    took = time.time() - t0
                rows.append(
                    {"group": name, "cell": cell, "round": round_no, "s": took, **got}
                    | {"ingress_s": cpu.seconds - idle * took, "ingress_s_measured": cpu.seconds}
                )
                await asyncio.sleep(0.3)
    return rows


def measure(base: str, pid: int, quick: bool) -> dict[str, Any]:
    """Everything on the hub at `base` (`hub serve` process `pid`, allowing 100 connections an educator)."""
    from hub.auth import issue_token

    p = plan(quick)
    started = time.time()
    job, author = quiz_result(base)
    job_s = time.time() - started
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {author}"}) as http:
        result = http.get(f"/api/jobs/{job}/result").json()
    http_figures = http_result(base, pid, job, author, p["gets"])

    now = time.time()

    def tokens(educators: list[str]) -> list[str]:
        return [issue_token(SECRET, e, ttl=3600, now=now) for e in educators]

    fan: dict[str, tuple[str, list[str]]] = {}  # group -> (cell, its educators); tokens by group below
    conn_tokens: dict[str, tuple[str, list[str]]] = {}
    for cell in CELLS:
        one = f"bench-proto-one-{cell}"
        fan[f"one educator|{cell}"] = (cell, [one])
        conn_tokens[f"one educator|{cell}"] = (cell, tokens([one]) * p["conns"])
        many = [f"bench-proto-{cell}-{i}" for i in range(p["conns"])]
        fan[f"{p['conns']} educators|{cell}"] = (cell, many)
        conn_tokens[f"{p['conns']} educators|{cell}"] = (cell, tokens(many))
        large = f"bench-proto-large-{cell}"
        conn_tokens[f"large|{cell}"] = (cell, tokens([large]) * p["large_conns"])
    large_groups = {f"large|{cell}": (cell, [f"bench-proto-large-{cell}"]) for cell in CELLS}

    stream = progress_stream(p["messages"])
    url = base.replace("http", "ws", 1) + "/ws"
    pool = ClientPool(url, conn_tokens)
    connected = pool.start()

    idle = [0.0]

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from hub.backend import Backend
        from hub.core.sharding import shard_of

        shards = Backend.connect(address=None, namespace=NAMESPACE, dataplane=True).desk.cluster.shards

        async def to_shards(educators: list[str], mtype: str, data: dict[str, Any]) -> None:
            by: dict[int, list[str]] = {}
            for e in educators:
                by.setdefault(shard_of(e, len(shards)), []).append(e)
            await asyncio.gather(*(shards[k].publish_message(es, mtype, data) for k, es in by.items()))

        async def progress(educators: list[str], i: int) -> None:
            await to_shards(educators, "quiz_status", stream[i % len(stream)])

        async def large(educators: list[str], i: int) -> None:
            await to_shards(educators, "analytics_update", {"educatorId": educators[0], "updates": {"quiz": result}})

        for name, (_, educators) in {**fan, **large_groups}.items():  # every path warm, not measured
            pool.arm(name, 1, 30)
            await to_shards(educators, "quiz_status", stream[0])
            pool.collect(60)
        with RoleCpu(pid, frozenset({INGRESS})) as cpu:  # the idle ingress (heartbeats, timers), per second
            await asyncio.sleep(IDLE_SECONDS)
        idle[0] = cpu.seconds / IDLE_SECONDS
        fan_rows = await _windows(pool, pid, fan, progress, p, idle[0])
        large_plan = {**p, "messages": p["large_messages"], "rate": p["large_rate"]}
        large_rows = await _windows(pool, pid, large_groups, large, large_plan, idle[0])
        return fan_rows, large_rows

    with joined_ray(pid):
        try:
            fan_rows, large_rows = asyncio.run(run())
        finally:
            pool.stop()
    return {
        "plan": p,
        "connections": connected,
        "job_s": job_s,
        "idle_ingress_cpu_per_s": idle[0],
        "stream_sample": stream[len(stream) // 2],
        "fanout": fan_rows,
        "large": large_rows,
        "http": http_figures,
        "micro": micro(stream, result),
        "seconds": time.time() - started,
    }


def main() -> None:
    run_alone(__doc__, "protocols.md", HUB_ENV, measure, write)


if __name__ == "__main__":
    main()
