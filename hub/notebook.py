"""Submit jobs and watch them from a notebook or a script, fed by the hub's stream (no polling).

    from jobs import connect
    hub = connect(educator="alice")                   # the hub at $HUB_URL, the running `hub serve`'s, or :8000
    job = hub.submit_quiz(text, num_questions=5)
    job.watch()                                       # a live progress bar (Jupyter or terminal)
    quiz = job.result()

The WebSocket client runs on its own event-loop thread, so these calls are plain synchronous ones
that also work inside Jupyter's running loop.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.auth import SECRET_FILE, issue_token, resolve_secret
from hub.client import HubClient, ThreadedClient
from hub.clientrooms import SyncRoom
from hub.core.errors import HubError
from hub.core.jobstate import TERMINAL
from hub.notebookitems import ItemBook
from hub.raycluster import RECORD_FILE, hub_running, join_hub, read_record
from hub.settings import NotebookSettings

DEFAULT_URL = "http://127.0.0.1:8000"


class HubRefused(HubError, RuntimeError):
    """The hub refused an HTTP call: `status` (the HTTP status, e.g. 422, 429, 401) and `detail` (the
    hub's reason, a sentence). A RuntimeError too, as these refusals were before it existed."""

    def __init__(self, what: str, status: int, detail: str) -> None:
        super().__init__(f"{what} failed ({status}): {detail}", status=status, detail=detail)
        self.status = status
        self.detail = detail


def hub_url(
    given: str | None, environ_url: str | None, data_dir: Path, record: dict[str, Any] | None, running: bool
) -> tuple[str, str]:
    """The hub URL a notebook connects to and where it came from, in words: `given` (connect(url=...)),
    else $HUB_URL (`environ_url`), else the URL the running hub recorded in DATA_DIR/ray.json
    (`record`, used only while `running`: its hub still holds the data dir), else DEFAULT_URL."""
    if given:
        return given.rstrip("/"), "given to connect()"
    if environ_url:
        return environ_url.rstrip("/"), "from HUB_URL"
    path = data_dir / RECORD_FILE
    recorded = (record or {}).get("url")
    if recorded and running:
        return str(recorded).rstrip("/"), f"recorded by the running hub in {path}"
    why = "its hub has stopped" if recorded else "no running hub recorded one"
    return DEFAULT_URL, f"the default: {why} in {path}"


def retry_wait(retry_after: str | None, waited: float, budget: float) -> float | None:
    """Seconds to wait before trying a call refused with 429 again: its `Retry-After` (seconds; 1
    when missing or not a number of seconds), or None when that would take the total `waited` past
    `budget` seconds (then the refusal is raised)."""
    try:
        wait = max(0.0, float(retry_after)) if retry_after is not None else 1.0
    except ValueError:
        wait = 1.0
    return wait if waited + wait <= budget else None


class JobFailed(RuntimeError):
    """A job waited on with `Job.result` ended `failed` or `cancelled`; `state` is its final state (a dict
    as the stream carries it: PROTOCOL.md sections 3 and 4) and the message names its error."""

    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__(
            f"job {state.get('jobId')} {state.get('status')}: {state.get('error') or state.get('message')}"
        )
        self.state = state


def default_educator() -> str:
    """The educator a notebook acts as when none is given: $HUB_EDUCATOR, else $USER, else "notebook"."""
    return NotebookSettings().educator


def status_line(state: dict[str, Any], width: int = 80) -> str:
    """What the progress bar shows after the bar: "processing: Generating question 2 of 5" (the
    status alone when there is no message), cut to `width` characters. A queued or processing job
    that waits for resources (its `waiting`, PROTOCOL.md section 9) shows why instead of its
    message: "queued: waiting for 1 GPU: none free on the cluster's 3 nodes"."""
    status, message = str(state.get("status") or ""), str(state.get("message") or "")
    waiting = state.get("waiting")
    if isinstance(waiting, dict) and waiting.get("reason") and status in ("queued", "processing"):
        message = str(waiting["reason"])
    return (f"{status}: {message}" if message else status)[:width]


class Hub:
    """A connection to a running hub: HTTP for commands, one WebSocket for every job's updates.
    Jobs are filed under `educator_id` (the token's subject): the educator whose dashboard shows them.
    `rooms`: the room patterns (PROTOCOL.md section 7) a token made here may use."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        educator_id: str | None = None,
        data_dir: str | Path | None = None,
        local: Any = None,
        namespace: str | None = None,
        retry_budget: float = 60.0,
        rooms: list[str] | None = None,
    ) -> None:
        self._env = env = NotebookSettings()  # what the environment says (HUB_URL, HUB_TOKEN, ...)
        self.educator_id = educator_id or env.educator
        self.rooms = list(rooms or [])  # room patterns a token made here carries (PROTOCOL.md section 7)
        self.data_dir = Path(data_dir).expanduser() if data_dir else env.data_dir
        given_url = url or env.url
        record = None if given_url else read_record(self.data_dir)
        running = record is not None and record.get("url") is not None and hub_running(self.data_dir)
        self.url, self.url_source = hub_url(url, env.url, self.data_dir, record, running)
        self.retry_budget = retry_budget  # seconds a submit refused with 429 is retried for in all
        self.token_source: str | None = None  # where the secret of a token made here came from
        given = token or env.token
        # A token made here from the hub's secret is made again as it nears expiry (the WebSocket
        # refreshes it, HTTP calls take the newest): a notebook left open for days stays connected.
        self._make_token: Callable[[], str] | None = None if given else self._local_token_maker()
        self.token: str = given or self._fresh_token()
        self._local = local
        self._namespace = namespace or (local.settings.namespace if local is not None else None)
        self._http = httpx.Client(base_url=self.url, auth=self._authorize, timeout=30.0)
        try:
            self._http.get("/healthz", timeout=10.0)
        except httpx.ConnectError:  # nothing listens there (a slow answer is not this error)
            self._http.close()
            raise HubError(
                f"no hub answers at {self.url} ({self.url_source}): start one (`make serve`, or `hub serve`), "
                "or give its address (connect(url=...) or HUB_URL)"
            ) from None
        except httpx.TimeoutException:
            pass  # a hub that is slow to answer is still there
        refused = self._http.get("/api/jobs", params={"limit": 1})
        if refused.status_code == 401:  # a token for another hub: say so now, not as a failed WebSocket
            self._http.close()
            raise HubError(str(self._refused("connecting", refused)))
        self._changed = threading.Condition()
        self._items = ItemBook()  # each job's finished items seen on the stream
        self._runner = ThreadedClient(HubClient(self.url, self._fresh_token if self._make_token else self.token))
        self.client = self._runner.client
        self.client.on("*", self._items.take)  # before _on_message wakes the waiting: items first
        self.client.on("*", self._on_message)
        self.client.on("snapshot", self._on_message)
        self._runner.start()

    @property
    def namespace(self) -> str:
        """The hub's Ray namespace: as given, else the one its data dir's record names, else
        $HUB_NAMESPACE or "hub"."""
        if self._namespace:
            return self._namespace
        record = read_record(self.data_dir) or {}
        return str(record.get("namespace") or self._env.namespace)

    def _local_token_maker(self) -> Callable[[], str]:
        """A function making tokens for `educator_id` with the local hub's secret (HUB_SECRET, else
        the data dir's file: `token_source` says which)."""
        secret = resolve_secret(self._env.secret, self.data_dir, "127.0.0.1", create=False)
        self.token_source = "HUB_SECRET" if self._env.secret else str(self.data_dir / SECRET_FILE)
        return lambda: issue_token(secret, self.educator_id, now=time.time(), rooms=self.rooms)

    def _fresh_token(self) -> str:
        """A new token (the WebSocket client's token function); HTTP calls use it from now on."""
        assert self._make_token is not None
        self.token = self._make_token()
        return self.token

    def _authorize(self, request: httpx.Request) -> httpx.Request:
        """httpx auth: the current token on every request."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def _refused(self, what: str, reply: httpx.Response) -> HubRefused:
        """The error for a refused call; a 401 says which token (and secret) the hub refused."""
        try:
            detail = reply.json().get("detail")
        except ValueError:
            detail = reply.text[:200]
        if reply.status_code == 401 and self.token_source:
            detail = (
                f"{detail}: the hub at {self.url} refused a token signed with the secret from {self.token_source}; "
                "give connect() the hub's data_dir, or a token from its `hub token`"
            )
        return HubRefused(what, reply.status_code, str(detail))

    def items(self, job_id: str) -> dict[int, Any]:
        """The finished items of a job seen on the stream so far (a quiz's questions, a custom kind's
        `ctx.item` values), {index: value} in index order; empty before the first. Items sent while
        this connection was away and not replayed to it (a resume past the hub's history) are not here:
        the job's result holds them all."""
        return self._items.items(job_id)

    def _on_message(self, _: dict[str, Any]) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- rooms ---------------------------------------------------------------------------------

    def join(self, room: str, *, presence: bool = True, info: dict[str, Any] | None = None) -> SyncRoom:
        """Join `room` (PROTOCOL.md section 7) on this connection: a SyncRoom (`members`, `on`, `publish`,
        `typing`, `leave`, `next`). The token must allow it (`connect(rooms=["quiz:*"])`, or a token from
        `hub token EDUCATOR --room PATTERN`): RoomError `forbidden` otherwise."""
        return self._runner.join(room, presence, info)

    # -- jobs ----------------------------------------------------------------------------------

    def submit(self, kind: str, *, idempotency_key: str | None = None, **params: Any) -> Job:
        """Submit a job of `kind` with `params`; its Job. Every submission carries an `Idempotency-Key`
        (PROTOCOL.md section 9): `idempotency_key` (1 to 128 printable ASCII characters; send the same one
        again, from here or elsewhere, within 24 hours to get the same job back instead of a second one),
        or a fresh uuid4 made for this call. Each retry of this call sends the same key, so a submission
        the hub recorded but whose answer was lost (the connection broke while reading it) is not run
        twice: a refusal for the educator's submit rate (429) is sent again after the hub's
        `Retry-After`, and a lost answer or a hub that answered 503 after 1 s, for up to `retry_budget`
        seconds in all. HubRefused (status and detail) for any refusal past that (409 when the key was
        used for another submission; 422 for a malformed key or bad params)."""
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        body = {"kind": kind, "params": params}
        waited = 0.0
        while True:
            try:
                reply = self._http.post("/api/jobs", json=body, headers={"Idempotency-Key": key})
            except (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteError) as exc:
                if waited + 1.0 > self.retry_budget:  # the request may have reached the hub: retry with the key
                    raise HubError(f"submit: the hub's answer was lost ({type(exc).__name__}); try again") from exc
                time.sleep(1.0)
                waited += 1.0
                continue
            if reply.status_code in (200, 202):  # 200: the job this key already named
                return Job(self, reply.json()["jobId"])
            retry_after = reply.headers.get("Retry-After") if reply.status_code == 429 else "1"
            wait = retry_wait(retry_after, waited, self.retry_budget)
            if reply.status_code not in (429, 503) or wait is None:
                raise self._refused("submit", reply)
            time.sleep(wait)
            waited += wait

    def submit_quiz(
        self, text: str, num_questions: int = 10, quiz_id: str | None = None, *, idempotency_key: str | None = None
    ) -> Job:
        """Submit a `quiz_generation` job (PROTOCOL.md section 5): `num_questions` (1 to 50) questions from
        `text`, for the quiz `quiz_id` (made by the hub when None); its Job. `idempotency_key` and
        HubRefused as `submit` (422 for params the kind refuses)."""
        params: dict[str, Any] = {"text": text, "numQuestions": num_questions}
        if quiz_id:
            params["quizId"] = quiz_id
        return self.submit("quiz_generation", idempotency_key=idempotency_key, **params)

    def register_kind(self, name: str, fn: Any, params: Any = None, resources: dict[str, float] | None = None) -> None:
        """Make `fn(ctx, params)` a job kind of this hub. It runs in its job's monitor actor: a plain
        function on a thread, an async one on the actor's loop; `ctx.progress(percent, message)`
        reports, `ctx.cancelled` says when to stop. `params` is a pydantic model (jobs.kinds.Params)
        or None for any JSON object; `resources` is what its monitor asks Ray for (e.g.
        {"num_cpus": 1, "num_gpus": 1}), so the job is placed where they are. The code travels
        through Ray, not HTTP: this process joins the hub's Ray cluster first (see `join_ray`). ValueError (a
        sentence) for `resources` that are not resource names to amounts >= 0 (jobs.kinds.resources_problem)."""
        import ray

        from actors.names import STORE_NAME
        from jobs.kinds import AnyParams, JobKind, pack_kind

        self.join_ray()
        store = ray.get_actor(STORE_NAME, namespace=self.namespace)
        kind = JobKind(name, params or AnyParams, fn, resources=resources)
        ray.get(store.register_kind.remote(name, pack_kind(kind)))

    def join_ray(self, timeout: float = 5.0) -> None:
        """Join the hub's Ray cluster as a driver unless this process is on one already: the address
        the running hub recorded in DATA_DIR/ray.json (`hub serve` / `make serve` on this machine),
        else $RAY_ADDRESS. HubError (a sentence) when there is none, the recorded hub has stopped, or
        the cluster refuses this machine's Ray token: never a hang on a stale cluster."""
        join_hub(self.data_dir, self.namespace, timeout=timeout)

    def job_kind(self, name: str, params: Any = None, resources: dict[str, float] | None = None) -> Any:
        """Decorator form of `register_kind`: `@hub.job_kind("word_count")`."""

        def register(fn: Any) -> Any:
            self.register_kind(name, fn, params, resources)
            return fn

        return register

    def job(self, job_id: str) -> Job:
        """The Job with id `job_id` (no call to the hub: `status`, `wait` or `result` ask)."""
        return Job(self, job_id)

    def jobs(self, limit: int | None = None, *, page: int = 500) -> list[dict[str, Any]]:
        """This educator's jobs, newest first: all of them, or the newest `limit`, read `page` jobs
        (1-500) a request, following `GET /api/jobs`' next-page cursor."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while limit is None or len(found) < limit:
            params: dict[str, Any] = {"limit": min(page, limit - len(found)) if limit else page}
            if cursor:
                params["cursor"] = cursor
            reply = self._http.get("/api/jobs", params=params)
            if reply.status_code >= 400:
                raise self._refused("GET /api/jobs", reply)
            found.extend(reply.json())
            cursor = reply.headers.get("X-Next-Cursor")
            if not cursor:
                break
        return found

    def _get(self, path: str) -> Any:
        reply = self._http.get(path)
        if reply.status_code >= 400:
            raise self._refused(f"GET {path}", reply)
        return reply.json()

    def latest(self, job_id: str) -> dict[str, Any] | None:
        """The newest state of a job seen on the stream."""
        return self.client.jobs.get(job_id)

    def wait_change(self, timeout: float) -> None:
        """Block until the stream brings something (a message or a snapshot) or `timeout` seconds pass."""
        with self._changed:
            self._changed.wait(timeout)

    def close(self) -> None:
        """Close the WebSocket client and its thread, then the HTTP client, and stop the hub if `local_hub`
        started it in this process."""
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
    """One job on a Hub, by its `id`: its state from the stream (`wait`, `watch`) or the HTTP API
    (`status`, `result`, `cancel`)."""

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

    @property
    def items(self) -> dict[int, Any]:
        """The job's finished items seen so far, {index: value} in index order: a quiz's questions as
        each is done, before the job completes (partial results: PROTOCOL.md section 9)."""
        return self.hub.items(self.id)

    def watch(
        self,
        timeout: float | None = None,
        *,
        show_items: bool = True,
        on_item: Callable[[int, Any], None] | None = None,
    ) -> dict[str, Any]:
        """Show a live progress bar until the job ends; returns its final state. A job that reports
        finished items (a quiz: each question as it is done) gets a line per item under the bar
        (`show_items`), and `on_item(index, value)` is called for each, in the order they come, on
        this thread."""
        from tqdm.auto import tqdm

        # The status goes in `desc`, after the bar: tqdm puts ", " before a postfix.
        bar_format = f"job {self.id[:8]}: {{percentage:3.0f}}%|{{bar}}| {{desc}}"
        with tqdm(total=100, unit="%", desc="", bar_format=bar_format) as bar:
            return self._follow(timeout, bar, show_items, on_item)

    def _new_items(
        self, shown: set[int], bar: Any, show_items: bool, on_item: Callable[[int, Any], None] | None
    ) -> None:
        """Show (and hand to `on_item`) the items not shown yet."""
        for index, value, line in self.hub._items.lines(self.id, shown):
            if bar is not None and show_items:
                bar.write(line)
            if on_item is not None:
                on_item(index, value)

    def _follow(
        self,
        timeout: float | None,
        bar: Any,
        show_items: bool = False,
        on_item: Callable[[int, Any], None] | None = None,
    ) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        shown: set[int] = set()
        while True:
            state = self.hub.latest(self.id)
            if show_items or on_item is not None:
                self._new_items(shown, bar, show_items, on_item)
            if state is not None:
                if bar is not None:
                    bar.n = float(state.get("progress", 0))
                    bar.set_description_str(status_line(state), refresh=False)
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
        """Ask the hub to cancel the job (`POST /api/jobs/{jobId}/cancel`); its `cancelled` status follows on
        the stream. HubRefused when refused (404: not this educator's job; 409: it has already ended)."""
        reply = self.hub._http.post(f"/api/jobs/{self.id}/cancel")
        if reply.status_code != 202:
            raise self.hub._refused("cancel", reply)


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    educator: str | None = None,
    data_dir: str | Path | None = None,
    namespace: str | None = None,
    **kwargs: Any,
) -> Hub:
    """Connect to a running hub (`hub serve`, `make serve`) at `url`: else $HUB_URL, else the URL the hub running with
    `data_dir` recorded in its ray.json, else http://127.0.0.1:8000 (the HubError for no answer names the URL
    tried and where it came from). Jobs are filed under `educator` (default $HUB_EDUCATOR, else $USER): pass the
    educator whose dashboard should show them. The token is `token` ($HUB_TOKEN), else one for `educator` signed
    with the secret in `data_dir` ($HUB_DATA_DIR, default ~/.local/share/hub) or HUB_SECRET. Custom job kinds
    join the Ray cluster that hub recorded in `data_dir`. HTTP refusals raise HubRefused; a submit refused for
    rate is retried after Retry-After (up to 60 s in all). `rooms=["quiz:*"]`: the rooms a token made here may
    join (PROTOCOL.md section 7)."""
    educator_id = kwargs.pop("educator_id", None) or educator
    return Hub(url, token, educator_id=educator_id, data_dir=data_dir, namespace=namespace, **kwargs)


def local_hub(educator_id: str | None = None, *, educator: str | None = None, **settings: Any) -> Hub:
    """Start a hub inside this process (local Ray, shards and ingress on a free port) and connect as
    `educator` (default $HUB_EDUCATOR, else $USER). `settings` are Settings fields (data_dir=...,
    namespace=...). Its own local Ray (when this process has none) copies the jobs' output to this
    process's, unless HUB_RAY_LOG_MONITOR or `ray_log_monitor=False` says otherwise. Prints its URL,
    data dir and where its secret came from. HubError when another hub runs with that data dir (one
    job store per jobs.db)."""
    from hub.server import LocalHub
    from hub.settings import Settings

    chosen = Settings(**{"port": 0, **settings})
    if chosen.ray_log_monitor is None:  # neither HUB_RAY_LOG_MONITOR nor an argument said
        chosen.ray_log_monitor = True  # the notebook shows its jobs' output (print, logs), as Ray does
    local = LocalHub(chosen)
    who = educator or educator_id or default_educator()
    print(
        f"hub: local hub at {local.url}; data dir {local.settings.data_dir} (job store {local.settings.db_path}); "
        f"secret from {local.secret_source}; jobs filed under educator {who!r}",
        flush=True,
    )
    return Hub(local.url, local.token(who), educator_id=who, local=local, data_dir=local.settings.data_dir)
