"""Python client of the hub protocol (asyncio): hello/resume, dedupe, heartbeats with dead-connection
detection, reconnection with backoff and jitter, an offline queue, and a long-poll fallback.

    client = HubClient("http://127.0.0.1:8000", token)
    client.on("quiz_status", lambda env: print(env["data"]["progress"]))
    await client.start()          # returns once the first welcome (or first poll) has arrived
    ...
    await client.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from hub.protocol import SUBPROTOCOL

log = logging.getLogger("hub.client")

FATAL_CLOSE = {4400: "bad hello", 4401: "unauthorized", 4403: "origin not allowed"}
WELCOME_TIMEOUT = 15.0  # seconds from hello to welcome before the attempt counts as failed
STATES = ("idle", "connecting", "connected", "reconnecting", "polling", "closed")
Handler = Callable[[dict[str, Any]], Any]


class HubClientError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def ws_url(base: str) -> str:
    base = base.rstrip("/")
    if base.startswith(("ws://", "wss://")):
        return base if base.endswith("/ws") else base + "/ws"
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/ws"


def http_url(base: str) -> str:
    base = base.rstrip("/")
    if base.endswith("/ws"):
        base = base[:-3]
    return base.replace("wss://", "https://", 1).replace("ws://", "http://", 1)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(cap, base * 2**attempt))


class HubClient:
    def __init__(
        self,
        url: str | list[str],
        token: str,
        *,
        types: list[str] | None = None,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        max_attempts: int | None = 5,
        fallback: bool = True,
        upgrade_retry: float = 30.0,
        heartbeat: float | None = None,
        compression: bool = True,
        offline_queue: int = 100,
        websocket_url: str | None = None,
    ) -> None:
        """`url`: the hub (or several ingresses, tried in turn). After `max_attempts` failed
        WebSocket attempts in a row the client long-polls `/api/events` when `fallback` (else it
        gives up), and tries the WebSocket again every `upgrade_retry` seconds."""
        self.urls = [ws_url(u) for u in ([url] if isinstance(url, str) else url)]
        self.websocket_url = websocket_url
        self.token = token
        self.types = types
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.fallback = fallback
        self.upgrade_retry = upgrade_retry
        self.heartbeat = heartbeat
        self.compression = compression
        self.state = "idle"
        self.epoch: str | None = None
        self.seq = 0
        self.session: str | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.connects = 0
        self._url_index = 0
        self._handlers: dict[str, list[Handler]] = {}
        self._outgoing: deque[dict[str, Any]] = deque(maxlen=offline_queue)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._welcomed: asyncio.Future[dict[str, Any]] | None = None
        self._closing = False
        self._last_heard = 0.0
        self._rng = random.Random()

    @property
    def url(self) -> str:
        return self.websocket_url or self.urls[self._url_index]

    @property
    def http_base(self) -> str:
        return http_url(self.urls[self._url_index])

    # -- handlers ------------------------------------------------------------------------------

    def on(self, event: str, handler: Handler) -> Handler:
        """Call `handler(envelope)` for a message type, or "*" for all; "welcome", "state",
        "snapshot" and "error" receive the frame (or {"state": ...})."""
        self._handlers.setdefault(event, []).append(handler)
        return handler

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        for handler in self._handlers.get(event, ()):
            try:
                handler(payload)
            except Exception:
                log.exception("handler for %s failed", event)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._emit("state", {"state": state})

    # -- life ----------------------------------------------------------------------------------

    async def start(self, timeout: float = 30.0) -> dict[str, Any]:
        """Connect (and keep reconnecting in the background); return the first welcome."""
        loop = asyncio.get_running_loop()
        self._welcomed = loop.create_future()
        self._task = loop.create_task(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(self._welcomed), timeout)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._set_state("closed")

    async def send(self, op: dict[str, Any]) -> None:
        """Send an op now, or queue it (bounded, oldest dropped) until the connection is back."""
        if self._ws is not None and self.state == "connected":
            await self._ws.send(json.dumps(op))
        else:
            self._outgoing.append(op)

    async def cancel(self, job_id: str) -> None:
        await self.send({"op": "cancel", "jobId": job_id})

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            if self.fallback and self.max_attempts is not None and failures >= self.max_attempts:
                await self._poll_for(self.upgrade_retry)
                if self._closing:
                    break
            self._set_state("connecting" if self.connects == 0 and failures == 0 else "reconnecting")
            try:
                await self._session()
                failures = 0
            except HubClientError as exc:
                self._fail(exc)
                return
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                if code in FATAL_CLOSE:
                    self._fail(HubClientError(f"closed {code}: {exc}", code))
                    return
                failures += 1
                self._url_index = (self._url_index + 1) % len(self.urls)  # try the next ingress
                log.info("connection failed or lost (%s); next try %s", exc, self.url)
            if self._closing:
                break
            if not self.fallback and self.max_attempts is not None and failures >= self.max_attempts:
                self._fail(HubClientError(f"gave up after {failures} attempts"))
                return
            if failures < (self.max_attempts or failures + 1):
                self._set_state("reconnecting")
                await asyncio.sleep(backoff_delay(failures, self.base_delay, self.max_delay, self._rng))

    def _fail(self, exc: HubClientError) -> None:
        self._set_state("closed")
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_exception(exc)
        self._emit("error", {"code": exc.code, "message": str(exc)})

    async def _session(self) -> None:
        async with connect(
            self.url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            compression="deflate" if self.compression else None,
            open_timeout=10,
            max_size=None,
        ) as ws:
            self._ws = ws
            hello: dict[str, Any] = {"op": "hello", "token": self.token}
            if self.epoch is not None:
                hello["resume"] = {"epoch": self.epoch, "seq": self.seq}
            if self.types is not None:
                hello["types"] = self.types
            await ws.send(json.dumps(hello))
            self._handle(json.loads(await asyncio.wait_for(ws.recv(), WELCOME_TIMEOUT)))
            self._last_heard = time.monotonic()
            pinger = asyncio.get_running_loop().create_task(self._pinger(ws))  # at the welcome's pace
            try:
                while self._outgoing and self.state == "connected":
                    await ws.send(json.dumps(self._outgoing.popleft()))
                async for raw in ws:
                    self._last_heard = time.monotonic()
                    self._handle(json.loads(raw))
                    if self.state == "connected":
                        while self._outgoing:
                            await ws.send(json.dumps(self._outgoing.popleft()))
            finally:
                pinger.cancel()
                self._ws = None
            code = ws.close_code
            if code in (1001, 1012):  # that ingress is going away: resume on the next one
                self._url_index = (self._url_index + 1) % len(self.urls)
            if code in FATAL_CLOSE:
                raise HubClientError(f"closed {code}: {ws.close_reason or FATAL_CLOSE[code]}", code)

    async def _pinger(self, ws: ClientConnection) -> None:
        """Heartbeat; a connection that stays silent for two heartbeats is dead: drop it."""
        n = 0
        while True:
            interval = self.heartbeat or 20.0
            await asyncio.sleep(interval)
            if time.monotonic() - self._last_heard > 2 * interval:
                log.info("no frame for %.0fs: the connection is dead, reconnecting", 2 * interval)
                ws.transport.abort()
                return
            n += 1
            await ws.send(json.dumps({"op": "ping", "id": n}))

    # -- long-poll fallback --------------------------------------------------------------------

    async def _poll_for(self, seconds: float) -> None:
        """Long-poll `/api/events` for `seconds`, then return so the WebSocket is tried again."""
        self._set_state("polling")
        deadline = time.monotonic() + seconds
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.http_base, headers=headers, timeout=40) as http:
            while not self._closing and time.monotonic() < deadline:
                params: dict[str, Any] = {"timeout": max(0.0, min(25.0, deadline - time.monotonic()))}
                if self.epoch is not None:
                    params.update(epoch=self.epoch, after=self.seq)
                try:
                    reply = await http.get("/api/events", params=params)
                except httpx.HTTPError as exc:
                    log.info("poll failed (%s)", exc)
                    await asyncio.sleep(backoff_delay(1, self.base_delay, self.max_delay, self._rng))
                    continue
                if reply.status_code == 401:
                    self._fail(HubClientError("unauthorized", 4401))
                    self._closing = True
                    return
                if reply.status_code != 200:
                    await asyncio.sleep(self.base_delay)
                    continue
                body = reply.json()
                if not body["resumed"]:
                    self._handle(
                        {
                            "op": "welcome",
                            "session": "poll",
                            "epoch": body["epoch"],
                            "seq": body["seq"],
                            "resumed": False,
                            "snapshot": body.get("snapshot", []),
                            "polling": True,
                        }
                    )
                    self._set_state("polling")
                else:
                    self._handle({"op": "batch", "messages": body["messages"]})
                while self._outgoing:  # ops that have an HTTP form go that way meanwhile
                    op = self._outgoing[0]
                    if op.get("op") != "cancel":
                        break
                    self._outgoing.popleft()
                    await http.post(f"/api/jobs/{op['jobId']}/cancel")

    # -- frames --------------------------------------------------------------------------------

    def _handle(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "batch":
            for env in frame["messages"]:
                if env["seq"] <= self.seq:
                    continue  # at least once: drop what was already seen
                self.seq = env["seq"]
                data = env.get("data", {})
                if "jobId" in data:
                    self.jobs[data["jobId"]] = {**self.jobs.get(data["jobId"], {}), **data}
                self._emit(env["type"], env)
                self._emit("*", env)
        elif op == "welcome":
            self.connects += 1
            self.session = frame["session"]
            if self.heartbeat is None and "heartbeat" in frame:
                self.heartbeat = float(frame["heartbeat"])
            if not frame["resumed"]:
                self.epoch, self.seq = frame["epoch"], frame["seq"]
                self.jobs = {job["jobId"]: job for job in frame.get("snapshot", [])}
                self._emit("snapshot", frame)
            if not frame.get("polling"):
                self._set_state("connected")
            self._emit("welcome", frame)
            if self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_result(frame)
        elif op == "error":
            self._emit("error", frame)
        elif op == "pong":
            self._emit("pong", frame)


class ThreadedClient:
    """A HubClient on its own event-loop thread, for synchronous code: notebooks (whose own loop
    is already running), scripts and tests."""

    def __init__(self, client: HubClient, name: str = "hub-client") -> None:
        self.client = client
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Any, timeout: float | None = 60.0) -> Any:
        """Run a coroutine on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> dict[str, Any]:
        return self.call(self.client.start())

    def close(self) -> None:
        try:
            self.call(self.client.close(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
