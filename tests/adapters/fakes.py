"""In-process stand-ins for the hub's Ray actors, built from the real plain classes.

The ingress (hub.ingress.app.create_app) is given a `FakeCluster` where the real hub gives it
`actors.cluster.Cluster`: its registry shards are real `actors.registry.RegistryShard`s, its job
store a real `actors.store.JobStore` (SQLite in the test's tmp_path), and job monitors, for the
job kinds that can run without Ray (`RUNS_IN_PROCESS`), real `actors.job_monitor.JobMonitor`s.
Only the Ray hop is faked, by `Remote`: each call is awaited on the app's event loop with its
arguments and its reply copied the way Ray copies them (pickle), so the ingress never shares an
object with a shard, and replies pass through as the real classes return them (no dicts rebuilt).
A `Remote` can be told to fail calls as `actors.handles` does when an actor does not answer
(UpstreamError), and its target can be replaced, as Ray restarting an actor replaces it.

Used by every test in tests/adapters (see conftest.py there); no Ray is started.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import Field
from starlette.testclient import TestClient

from actors.job_monitor import JobMonitor
from actors.registry import RegistryShard
from actors.store import JobStore
from hub.auth import issue_token
from hub.core import strictjson
from hub.core.config import MonitorConfig, ShardConfig
from hub.core.errors import InvalidInput, UpstreamError
from hub.core.sharding import shard_of
from hub.ingress.app import create_app
from hub.settings import Settings
from jobs.context import JobContext
from jobs.kinds import JobKind, Params, register_kind

SECRET = "adapter-test-secret-0123456789abcdef0123"
# Seconds a test waits for a frame before failing (HUB_TEST_TIME_FACTOR scales it, as in tests/conftest.py).
RECEIVE_TIMEOUT = 10.0 * float(os.environ.get("HUB_TEST_TIME_FACTOR", "1"))


def ray_copy(value: Any) -> Any:
    """`value` as the other side of a Ray call sees it: a pickled copy (sharing within it kept)."""
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class Remote:
    """An actor client (actors.handles.ShardClient / StoreClient) over a plain object in this process.

    `await remote.method(*args)` runs `target.method` (async or not) on the calling loop with copied
    arguments and returns a copied reply. `fail(method, times)` makes the next calls raise
    UpstreamError, the error the Ray clients raise for an actor that does not answer; `pause` and
    `release` hold calls of a method back (a slow actor) and let them go. Every call is
    logged in `log` as (what, method, args) so a test can check the order of calls across actors."""

    def __init__(self, target: Any, what: str, index: int = -1, log: list[tuple[str, str, Any]] | None = None) -> None:
        self.target = target
        self.what = what
        self.index = index
        self.log = log if log is not None else []
        self.failing: dict[str, int] = {}
        self.paused: dict[str, asyncio.Event] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def fail(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` raise UpstreamError (the actor is not answering)."""
        self.failing[method] = times

    def pause(self, method: str) -> None:
        """Calls of `method` made from now on wait (before reaching the target) until `release`."""
        self.paused[method] = asyncio.Event()

    def release(self, method: str) -> None:
        """Let the waiting and later calls of `method` through (callable from the test's thread)."""
        gate = self.paused.pop(method)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(gate.set)

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        getattr(self.target, method)  # AttributeError now for a method the real class lacks

        async def call(*args: Any) -> Any:
            self.loop = asyncio.get_running_loop()
            gate = self.paused.get(method)
            if gate is not None:
                await gate.wait()
            self.log.append((self.what, method, args))
            left = self.failing.get(method, 0)
            if left:
                self.failing[method] = left - 1
                name = self.what if self.index < 0 else f"{self.what} {self.index}"
                raise UpstreamError(f"the hub's {name} did not answer; try again in a moment", method=method)
            reply = getattr(self.target, method)(*ray_copy(args))
            if inspect.isawaitable(reply):
                reply = await reply
            return ray_copy(reply)

        return call

    def calls(self, method: str) -> list[Any]:
        """The arguments of every call of `method` made so far through this client."""
        return [args for what, m, args in self.log if what == self.what and m == method]


class InProcessShard(RegistryShard):
    """RegistryShard as its Ray actor runs it, with the monitor watch answered in process: a job's
    monitor is gone when its run ended (or it was never started), as `RegistryShardActor` finds it."""

    def __init__(self, index: int, config: ShardConfig, *, store: Any, monitors: dict[str, JobMonitor]) -> None:
        super().__init__(index, config, store=store)
        self.monitors = monitors

    async def monitor_gone(self, job_id: str) -> None:
        monitor = self.monitors.get(job_id)
        if monitor is not None:
            await monitor.wait_done()


# -- job kinds that run in process (no Ray tasks) -----------------------------------------------


class StepsParams(Params):
    steps: int = Field(default=3, ge=1, le=20)
    delay: float = Field(default=0.0, ge=0, le=5)  # seconds between steps
    hold: bool = False  # after the steps, wait until cancelled
    fail: str | None = None  # end `failed` with this sentence (InvalidInput) after the steps


async def run_steps(ctx: JobContext, params: StepsParams) -> dict[str, Any]:
    for i in range(params.steps):
        ctx.check_cancelled()
        ctx.progress(100 * (i + 1) / (params.steps + 1), f"Step {i + 1} of {params.steps}")
        await asyncio.sleep(params.delay)
    while params.hold:
        ctx.check_cancelled()
        await asyncio.sleep(0.01)
    if params.fail:
        raise InvalidInput(params.fail)
    return {"steps": params.steps, "summary": f"{params.steps} steps"}


STEPS = register_kind(JobKind("adapter_steps", StepsParams, run_steps))
RUNS_IN_PROCESS = frozenset({STEPS.name})


class FakeCluster:
    """What `create_app` needs of `actors.cluster.Cluster`: `shards`, `store`, `shard_for`,
    `spawn_job`, `cancel_job`. Monitors run on the app's loop for the kinds in `RUNS_IN_PROCESS`;
    a job of another kind (the built-in ones run Ray tasks) gets a monitor that never starts, as one
    Ray cannot place: it stays `queued` (its spawn is recorded in `spawned`)."""

    def __init__(
        self,
        path: Path,
        shards: int = 2,
        config: ShardConfig | None = None,
        shard_type: type[RegistryShard] = InProcessShard,
    ) -> None:
        self.log: list[tuple[str, str, Any]] = []
        self.config = config or ShardConfig(poll_timeout=0.5)
        self.monitors: dict[str, JobMonitor] = {}
        self.runs: dict[str, asyncio.Task[str]] = {}
        self.spawned: list[dict[str, Any]] = []  # the params of every job spawned, in order
        self.released: list[str] = []  # job ids given back to new_job_id's pool (none here)
        self.issued: list[tuple[str, Any]] = []  # (job id, the kind's resources) new_job_id gave out
        self.spawn_error: Exception | None = None  # spawn_job raises it (a monitor Ray cannot create)
        self.store = Remote(JobStore(path / "jobs.db"), "job store", log=self.log)
        self.shards = [Remote(self._make_shard(shard_type, k), "registry shard", k, self.log) for k in range(shards)]

    def _make_shard(self, shard_type: type[RegistryShard], k: int) -> RegistryShard:
        if issubclass(shard_type, InProcessShard):
            return shard_type(k, self.config, store=self.store, monitors=self.monitors)
        return shard_type(k, self.config, store=self.store)

    def restart_shard(self, k: int) -> RegistryShard:
        """Replace shard `k` by a new incarnation (new epoch, no history), as Ray restarting its actor."""
        shard = self._make_shard(type(self.shards[k].target), k)
        self.shards[k].target = shard
        return shard

    def shard_for(self, educator_id: str) -> Remote:
        return self.shards[shard_of(educator_id, len(self.shards))]

    def shard_object(self, educator_id: str) -> RegistryShard:
        """The plain RegistryShard behind `educator_id`'s shard client."""
        return self.shard_for(educator_id).target  # type: ignore[no-any-return]

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self.store.loop or next((s.loop for s in self.shards if s.loop is not None), None)
        assert loop is not None, "no call reached the cluster yet"
        return loop

    def new_job_id(self, resources: Any = None) -> str:
        job_id = uuid.uuid4().hex  # no warm monitors here: every id is fresh
        self.issued.append((job_id, resources))
        return job_id

    def release_job_id(self, job_id: str) -> None:
        self.released.append(job_id)

    # Called by the job desk on a worker thread (asyncio.to_thread), as the Ray calls it stands for.
    def spawn_job(self, state: dict[str, Any], params: dict[str, Any], resources: Any = None) -> None:
        self.spawned.append(params)
        if self.spawn_error is not None:
            raise self.spawn_error
        if state["kind"] not in RUNS_IN_PROCESS:
            return
        self._on_loop(self._start_monitor(ray_copy(state), ray_copy(params)))

    async def _start_monitor(self, state: dict[str, Any], params: dict[str, Any]) -> None:
        job_id = state["jobId"]
        monitor = JobMonitor(
            state, params, self.shard_for(state["educatorId"]), self.store, config=MonitorConfig(progress_interval=0.0)
        )
        self.monitors[job_id] = monitor
        run = self.runs[job_id] = asyncio.get_running_loop().create_task(monitor.run())
        run.add_done_callback(lambda _: self.monitors.pop(job_id, None))  # the actor exits at the end

    async def close(self) -> None:
        """Nothing to close: the shards are in this process (Cluster.close closes data-plane sockets)."""

    def cancel_job(self, job_id: str, *, started: bool = True) -> bool:
        monitor = self.monitors.get(job_id)
        if monitor is None:
            return False
        if not started:  # killed, never restarted: the desk ends the record
            self.monitors.pop(job_id, None)
            self.loop.call_soon_threadsafe(self.runs[job_id].cancel)
            return False
        self._on_loop(monitor.cancel())
        return True

    def _on_loop(self, coro: Any) -> None:
        """Run `coro` on the app's loop and wait for it (from a worker thread, as the desk calls)."""
        loop = self.loop
        if getattr(loop, "_thread_id", None) == threading.get_ident():  # pragma: no cover
            raise RuntimeError("FakeCluster.spawn_job/cancel_job are called off the loop, as Ray calls are")
        asyncio.run_coroutine_threadsafe(coro, loop).result(10)


# -- the app over a fake cluster ----------------------------------------------------------------


def adapter_settings(path: Path, **overrides: Any) -> Settings:
    """Settings for an adapter test: short timings, no rate limits in the way unless a test sets them."""
    values: dict[str, Any] = {
        "secret": SECRET,
        "data_dir": path,
        "poll_timeout": 0.5,
        "submit_burst": 1e9,
        "inbound_burst": 1e9,
        "deflate_idle": 0,
        "token_leeway": 0,
    }
    return Settings(**{**values, **overrides})


def make_client(
    path: Path, shard_type: type[RegistryShard] = InProcessShard, shards: int = 2, **settings: Any
) -> tuple[TestClient, FakeCluster]:
    """The real FastAPI app over a FakeCluster, as a (not yet entered) Starlette TestClient."""
    config = adapter_settings(path, **settings)
    cluster = FakeCluster(path, shards=shards, config=config.shard_config(), shard_type=shard_type)
    app = create_app(config, SECRET, cluster)
    return TestClient(app), cluster


def token(sub: str, role: str = "educator", ttl: float = 3600.0) -> str:
    return issue_token(SECRET, sub, role=role, ttl=ttl, now=time.time())


def auth(sub: str, role: str = "educator") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, role)}", "Content-Type": "application/json"}


def strict(text: str | bytes) -> Any:
    """Parse as the contract's strict JSON (no NaN/Infinity, no lone surrogates)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return strictjson.loads(text)


def hello(ws: Any, who: str, **fields: Any) -> dict[str, Any]:
    """Send `hello` for `who` (extra fields: resume, types) and return the `welcome`."""
    ws.send_text(json.dumps({"op": "hello", "token": token(who), **fields}))
    welcome: dict[str, Any] = strict(ws.receive_text())
    assert welcome["op"] == "welcome", welcome
    return welcome


def envelopes(ws: Any, count: int) -> list[dict[str, Any]]:
    """The next `count` envelopes from `batch` frames (failing on any other frame)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        frame = strict(ws.receive_text())
        assert frame["op"] == "batch", frame
        out += frame["messages"]
    assert len(out) == count, f"{len(out)} envelopes, wanted {count}: {out}"
    return out


def until_status(ws: Any, job_id: str, status: str) -> list[dict[str, Any]]:
    """Envelopes of `job_id` up to and including the first with `status` (others skipped)."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = strict(ws.receive_text())
        assert frame["op"] == "batch", frame
        for env in frame["messages"]:
            if env["data"].get("jobId") == job_id:
                seen.append(env)
                if env["data"]["status"] == status:
                    return seen


def closed(ws: Any) -> dict[str, Any]:
    """Read frames until the close; return the close message (type, code, reason)."""
    while True:
        message: dict[str, Any] = ws.receive()
        if message["type"] == "websocket.close":
            return message


def publish(http: TestClient, cluster: FakeCluster, educator_id: str, mtype: str, data: dict[str, Any]) -> int:
    """Publish a message straight into `educator_id`'s shard (as a back end's Ray call does)."""
    return http.portal.call(cluster.shard_for(educator_id).publish_message, [educator_id], mtype, data)  # type: ignore[union-attr]


def notes(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield {"id": f"n{i}", "level": "info", "title": f"note {i}", "body": "", "broadcast": False}


def race_past_the_key_lookup(cluster: FakeCluster, submit: Callable[[], Any]) -> list[Any]:
    """Run `submit` twice at once so that both pass the Idempotency-Key lookup before either records
    its job (the store's save_keyed held back until both looked the key up); their answers."""
    cluster.store.pause("save_keyed")
    with ThreadPoolExecutor(2) as pool:
        replies = [pool.submit(submit) for _ in range(2)]
        deadline = time.monotonic() + 10
        while len(cluster.store.calls("keyed_job")) < 2:  # both looked the key up and found nothing
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        cluster.store.release("save_keyed")
        return [r.result(timeout=10) for r in replies]
