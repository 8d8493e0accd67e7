"""Submit jobs and watch them from a notebook or a script, fed by the hub's stream (no polling).

    from jobs import connect
    hub = connect()                                   # the hub at $HUB_URL or http://127.0.0.1:8000
    job = hub.submit_quiz(text, num_questions=5)
    job.watch()                                       # a live progress bar (Jupyter or terminal)
    quiz = job.result()

The WebSocket client runs on its own event-loop thread, so these calls are plain synchronous ones
that also work inside Jupyter's running loop.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from hub.auth import issue_token, resolve_secret
from hub.client import HubClient, ThreadedClient
from hub.jobstate import TERMINAL
from hub.settings import default_data_dir

DEFAULT_URL = "http://127.0.0.1:8000"


class JobFailed(RuntimeError):
    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__(
            f"job {state.get('jobId')} {state.get('status')}: {state.get('error') or state.get('message')}"
        )
        self.state = state


class Hub:
    """A connection to a running hub: HTTP for commands, one WebSocket for every job's updates."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        educator_id: str | None = None,
        data_dir: str | Path | None = None,
        local: Any = None,
        namespace: str | None = None,
    ) -> None:
        self.url = (url or os.environ.get("HUB_URL") or DEFAULT_URL).rstrip("/")
        self.educator_id = educator_id or os.environ.get("HUB_EDUCATOR") or os.environ.get("USER") or "notebook"
        self.token = token or os.environ.get("HUB_TOKEN") or self._local_token(data_dir)
        self._local = local
        self.namespace = namespace or (
            local.settings.namespace if local is not None else os.environ.get("HUB_NAMESPACE", "hub")
        )
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30.0)
        self._changed = threading.Condition()
        self._runner = ThreadedClient(HubClient(self.url, self.token))
        self.client = self._runner.client
        self.client.on("*", self._on_message)
        self.client.on("snapshot", self._on_message)
        self._runner.start()

    def _local_token(self, data_dir: str | Path | None) -> str:
        folder = Path(data_dir or os.environ.get("HUB_DATA_DIR") or default_data_dir()).expanduser()
        secret = resolve_secret(os.environ.get("HUB_SECRET"), folder, "127.0.0.1", create=False)
        return issue_token(secret, self.educator_id, now=time.time())

    def _on_message(self, _: dict[str, Any]) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- jobs ----------------------------------------------------------------------------------

    def submit(self, kind: str, **params: Any) -> Job:
        reply = self._http.post("/api/jobs", json={"kind": kind, "params": params})
        if reply.status_code != 202:
            raise RuntimeError(f"submit failed ({reply.status_code}): {reply.json().get('detail')}")
        return Job(self, reply.json()["jobId"])

    def submit_quiz(self, text: str, num_questions: int = 10, quiz_id: str | None = None) -> Job:
        params: dict[str, Any] = {"text": text, "numQuestions": num_questions}
        if quiz_id:
            params["quizId"] = quiz_id
        return self.submit("quiz_generation", **params)

    def register_kind(self, name: str, fn: Any, params: Any = None, resources: dict[str, float] | None = None) -> None:
        """Make `fn(ctx, params)` a job kind of this hub. It runs in its job's monitor actor: a plain
        function on a thread, an async one on the actor's loop; `ctx.progress(percent, message)`
        reports, `ctx.cancelled` says when to stop. `params` is a pydantic model (jobs.kinds.Params)
        or None for any JSON object; `resources` is what its monitor asks Ray for (e.g.
        {"num_cpus": 1, "num_gpus": 1}), so the job is placed where they are. Needs this process on
        the hub's Ray cluster (`local_hub()`, or `ray.init(address=...)` with HUB_NAMESPACE), since
        the code travels through Ray."""
        import ray

        from actors.handles import STORE_NAME
        from jobs.kinds import AnyParams, JobKind, pack_kind

        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), configure_logging=False)
        store = ray.get_actor(STORE_NAME, namespace=self.namespace)
        kind = JobKind(name, params or AnyParams, fn, resources=resources)
        ray.get(store.register_kind.remote(name, pack_kind(kind)))

    def job_kind(self, name: str, params: Any = None, resources: dict[str, float] | None = None) -> Any:
        """Decorator form of `register_kind`: `@hub.job_kind("word_count")`."""

        def register(fn: Any) -> Any:
            self.register_kind(name, fn, params, resources)
            return fn

        return register

    def job(self, job_id: str) -> Job:
        return Job(self, job_id)

    def jobs(self) -> list[dict[str, Any]]:
        return self._get("/api/jobs")

    def _get(self, path: str) -> Any:
        reply = self._http.get(path)
        if reply.status_code >= 400:
            raise RuntimeError(f"GET {path} failed ({reply.status_code}): {reply.json().get('detail')}")
        return reply.json()

    def latest(self, job_id: str) -> dict[str, Any] | None:
        """The newest state of a job seen on the stream."""
        return self.client.jobs.get(job_id)

    def wait_change(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def close(self) -> None:
        try:
            self._runner.close()
        finally:
            self._http.close()
            if self._local is not None:
                self._local.stop()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Job:
    def __init__(self, hub: Hub, job_id: str) -> None:
        self.hub = hub
        self.id = job_id

    def __repr__(self) -> str:
        state = self.hub.latest(self.id) or {}
        return f"<Job {self.id} {state.get('status', '?')} {state.get('progress', 0):.0f}%>"

    def status(self) -> dict[str, Any]:
        """The job's state from the hub (one HTTP call)."""
        return self.hub._get(f"/api/jobs/{self.id}")

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job ends (from the stream); returns its final state."""
        return self._follow(timeout, None)

    def watch(self, timeout: float | None = None) -> dict[str, Any]:
        """Show a live progress bar until the job ends; returns its final state."""
        from tqdm.auto import tqdm

        with tqdm(
            total=100, unit="%", desc=f"job {self.id[:8]}", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}"
        ) as bar:
            return self._follow(timeout, bar)

    def _follow(self, timeout: float | None, bar: Any) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.hub.latest(self.id)
            if state is not None:
                if bar is not None:
                    bar.n = float(state.get("progress", 0))
                    bar.set_postfix_str(f"{state.get('status')}: {state.get('message', '')}"[:80], refresh=False)
                    bar.refresh()
                if state.get("status") in TERMINAL:
                    return state
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} still {state and state.get('status')} after {timeout}s")
            self.hub.wait_change(0.5)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job, then return its result; JobFailed when it failed or was cancelled."""
        state = self.wait(timeout)
        if state["status"] != "completed":
            raise JobFailed(state)
        return self.hub._get(f"/api/jobs/{self.id}/result")

    def cancel(self) -> None:
        reply = self.hub._http.post(f"/api/jobs/{self.id}/cancel")
        if reply.status_code != 202:
            raise RuntimeError(f"cancel failed ({reply.status_code}): {reply.json().get('detail')}")


def connect(url: str | None = None, token: str | None = None, **kwargs: Any) -> Hub:
    """Connect to a running hub (`hub serve`); the token defaults to one made from the local secret."""
    return Hub(url, token, **kwargs)


def local_hub(educator_id: str | None = None, **settings: Any) -> Hub:
    """Start a hub inside this process (local Ray, shards and ingress on a free port) and connect."""
    from hub.server import LocalHub
    from hub.settings import Settings

    local = LocalHub(Settings(**{"port": 0, **settings}))
    token = local.token(educator_id or os.environ.get("USER") or "notebook")
    return Hub(local.url, token, educator_id=educator_id, local=local)
