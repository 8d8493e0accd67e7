"""Python client of the hub protocol (asyncio): hello/resume, dedupe, heartbeats with dead-connection
detection, reconnection with backoff and jitter, an offline queue, a long-poll fallback, and token
refresh (PROTOCOL.md section 2, "Token expiry").

    client = HubClient("http://127.0.0.1:8000", token)   # or a function that returns a fresh token
    client.on("quiz_status", lambda env: print(env["data"]["progress"]))
    await client.start()          # returns once the first welcome (or first poll) has arrived
    room = await client.join("quiz:q-42")   # rooms (PROTOCOL.md section 7): hub.clientrooms
    ...
    await client.close()
"""

from __future__ import annotations

import asyncio
import inspect
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

from hub.clienterrors import Handlers, HubClientError, RoomError
from hub.clientrooms import Room, RoomClient, Rooms, SyncRoom
from hub.clienttokens import TokenSource, refresh_delay, token_times
from hub.core.closecodes import CloseCode
from hub.core.codecs import MSGPACK_SUBPROTOCOL, pack, unpack_object
from hub.core.protocol import (
    SUBPROTOCOL,
    Ack,
    Batch,
    ErrorFrame,
    Joined,
    Left,
    MalformedFrame,
    Pong,
    Received,
    Refreshed,
    Welcome,
    WireEnvelope,
    parse_events_reply,
    parse_server_frame,
    read_server_frame,
)
from hub.core.records import StreamPosition

__all__ = ["HubClient", "HubClientError", "Room", "RoomError", "SyncRoom", "ThreadedClient"]

log = logging.getLogger("hub.client")

# The closes after which the client stops (hub.core.closecodes: the same hello would be refused
# again), each with what it says when the hub gave no reason; every other close reconnects and resumes.
FATAL_CLOSE: dict[int, str] = {code: code.meaning for code in CloseCode if code.final}
WELCOME_TIMEOUT = 15.0  # seconds from hello to welcome before the attempt counts as failed
STATES = ("idle", "connecting", "connected", "reconnecting", "polling", "closed")
Handler = Callable[[dict[str, Any]], Any]


def ws_url(base: str) -> str:
    """The WebSocket URL for a hub address: `http(s)://host[:port][/path]` becomes `ws(s)://.../ws`; a
    `ws(s)://` URL gets `/ws` appended unless it ends in it."""
    base = base.rstrip("/")
    if base.startswith(("ws://", "wss://")):
        return base if base.endswith("/ws") else base + "/ws"
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/ws"


def http_url(base: str) -> str:
    """The HTTP base URL for a hub address (the inverse of `ws_url`): a trailing `/ws` removed, `ws(s)://`
    made `http(s)://`."""
    base = base.rstrip("/")
    if base.endswith("/ws"):
        base = base[:-3]
    return base.replace("wss://", "https://", 1).replace("ws://", "http://", 1)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(cap, base * 2**attempt))


class _TokenUnavailable(Exception):
    """The token function raised: a failed attempt (retried with backoff), not a fatal error."""


class HubClient(RoomClient):
    """One client of the hub's stream (PROTOCOL.md sections 2 and 5): a WebSocket with hello and resume,
    dedupe by seq, heartbeats, reconnection with backoff and jitter, a bounded offline queue of ops, the
    long-poll fallback and token refresh. `state` is one of STATES; `position` the StreamPosition seen (None
    before the first welcome; `epoch` and `seq` read it); `jobs` the newest state of each job (snapshot
    entries merged with later messages' data).

    Every frame from the hub is read into its typed record (hub.core.protocol: Welcome, Batch, ...) where
    it arrives; callbacks receive the frame's JSON object itself (dicts, unknown fields and all). A
    frame that does not match the protocol is logged (logger "hub.client") and skipped, an op this
    version does not know ignored, as the JS client does; neither ends the connection."""

    def __init__(
        self,
        url: str | list[str],
        token: TokenSource,
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
        refresh: bool = True,
        room_queue: int = 10_000,
        protocol: str = "json",
    ) -> None:
        """`url`: the hub (or several ingresses, tried in turn). After `max_attempts` failed
        WebSocket attempts in a row the client long-polls `/api/events` when `fallback` (else it
        gives up), and tries the WebSocket again every `upgrade_retry` seconds.

        `token`: a token, or a function (plain or async; a plain one runs on a worker thread) that
        returns a fresh one. Given a function, the client sends `refresh` with a new token at 85%
        of the current one's lifetime (when `refresh`), and when the hub closes the connection 4401
        for an expired token anyway, it reconnects with a new one and resumes without loss. With a
        plain token, that close is final (HubClientError 4401), as is any other 4401.

        `room_queue`: how many unread messages each joined Room keeps for `async for` (the oldest
        dropped past that).

        `protocol`: "json" (text frames, `hub.v1`) or "msgpack" (binary MessagePack frames,
        `hub.v1.msgpack`, PROTOCOL.md section 8, offered before `hub.v1`: a hub that does not speak it
        selects JSON, and the client follows); ValueError for anything else. The long-poll fallback is
        JSON either way."""
        if protocol not in ("json", "msgpack"):
            raise ValueError(f'protocol must be "json" or "msgpack", not {protocol!r}')
        self.protocol = protocol  # asked for; `wire_protocol` is what the live socket uses
        self.urls = [ws_url(u) for u in ([url] if isinstance(url, str) else url)]
        self.websocket_url = websocket_url
        self._token_fn = None if isinstance(token, str) else token
        self.token: str | None = token if isinstance(token, str) else None  # the one in use
        self.refresh = refresh
        self.refreshes = 0  # tokens the hub accepted through `refresh`
        self.types = types
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.fallback = fallback
        self.upgrade_retry = upgrade_retry
        self.heartbeat = heartbeat
        self.compression = compression
        self.state = "idle"
        self.position: StreamPosition | None = None  # where to resume: the last welcome's, then each seq
        self.session: str | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.connects = 0
        self._url_index = 0
        self._handlers = Handlers("the client")
        self._outgoing: deque[dict[str, Any]] = deque(maxlen=offline_queue)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._welcomed: asyncio.Future[dict[str, Any]] | None = None
        self._closing = False
        self._last_heard = 0.0
        self._rng = random.Random()
        self._stale = False  # the token in use expired: ask the function for a new one
        self._refresh_answer: asyncio.Future[tuple[Refreshed | ErrorFrame, dict[str, Any]]] | None = None
        self.rooms_book = Rooms(self, room_queue)  # the joined rooms (hub.clientrooms)
        self._asked_rooms: list[str] = []  # the rooms the hello in flight carries
        self._linked = asyncio.Event()  # set while connected or polling
        self.wire_protocol: str | None = None  # the subprotocol the hub selected on the live socket
        self._poll_wake = asyncio.Event()  # the rooms changed: end the poll in flight

    @property
    def epoch(self) -> str | None:
        """The epoch of the stream position seen (None before the first welcome)."""
        return None if self.position is None else self.position.epoch

    @property
    def seq(self) -> int:
        """The last seq seen in `epoch` (0 before the first welcome)."""
        return 0 if self.position is None else self.position.seq

    @property
    def url(self) -> str:
        """The WebSocket URL the next attempt uses: `websocket_url` when given, else the current ingress's."""
        return self.websocket_url or self.urls[self._url_index]

    @property
    def http_base(self) -> str:
        """The current ingress's HTTP base URL (for the long-poll fallback)."""
        return http_url(self.urls[self._url_index])

    # -- handlers ------------------------------------------------------------------------------

    def on(self, event: str, handler: Handler) -> Handler:
        """Call `handler(envelope)` for a message type, or "*" for all; "welcome", "state",
        "snapshot", "error" and "refreshed" (a token refresh the hub accepted) receive the frame
        (or {"state": ...})."""
        return self._handlers.add(event, handler)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        self._handlers.emit(event, payload)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self.link in ("connected", "polling"):
                self._linked.set()
            else:
                self._linked.clear()
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
        """Stop for good: close the WebSocket, end the background task and move to state "closed"."""
        self._closing = True
        self.rooms_book.closed()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._set_state("closed")

    async def send(self, op: dict[str, Any]) -> None:
        """Send an op now, or queue it (bounded, oldest dropped) until the connection is back."""
        if self._ws is not None and self.state == "connected":
            await self._ws.send(self._encode(op))
        else:
            self._outgoing.append(op)

    async def cancel(self, job_id: str) -> None:
        """Ask the hub to cancel job `job_id` (the `cancel` op; queued while disconnected, sent as
        `POST /api/jobs/{jobId}/cancel` while long-polling)."""
        await self.send({"op": "cancel", "jobId": job_id})

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            if self.fallback and self.max_attempts is not None and failures >= self.max_attempts:
                await self._poll_for(self.upgrade_retry)
                if self._closing:
                    break
            self._set_state("connecting" if self.connects == 0 and failures == 0 else "reconnecting")
            connects = self.connects
            try:
                await self._session()
                failures = 0
            except HubClientError as exc:
                self._fail(exc)
                return
            except (TimeoutError, OSError, websockets.WebSocketException, _TokenUnavailable) as exc:
                rcvd = getattr(exc, "rcvd", None)
                code = getattr(rcvd, "code", None)
                if code == CloseCode.UNAUTHORIZED and self._expired(getattr(rcvd, "reason", "")):
                    if self._token_fn is None:
                        self._fail(
                            HubClientError("closed 4401: token expired (give a token function to refresh it)", code)
                        )
                        return
                    self._stale = True  # reconnect with a new token and resume
                    log.info("the token expired; reconnecting with a new one")
                    failures = 0 if self.connects > connects else failures + 1
                elif code in FATAL_CLOSE:
                    self._fail(HubClientError(f"closed {code}: {exc}", code))
                    return
                else:
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
            subprotocols=[MSGPACK_SUBPROTOCOL, SUBPROTOCOL] if self.protocol == "msgpack" else [SUBPROTOCOL],  # type: ignore[list-item]
            compression="deflate" if self.compression else None,
            open_timeout=10,
            max_size=None,
        ) as ws:
            self._ws = ws
            self.wire_protocol = ws.subprotocol
            await ws.send(self._encode(await self._hello()))
            self._receive(await asyncio.wait_for(ws.recv(), WELCOME_TIMEOUT))
            self._last_heard = time.monotonic()
            for spec in self.rooms_book.specs(unjoined=True) if self.state == "connected" else ():
                await ws.send(self._encode({"op": "join", **spec}))  # joined since the hello, or not answered
            loop = asyncio.get_running_loop()
            pinger = loop.create_task(self._pinger(ws))  # at the welcome's pace
            refresher = loop.create_task(self._refresher(ws)) if self._token_fn and self.refresh else None
            try:
                while self._outgoing and self.state == "connected":
                    await ws.send(self._encode(self._outgoing.popleft()))
                async for raw in ws:
                    self._last_heard = time.monotonic()
                    self._receive(raw)
                    if self.state == "connected":
                        while self._outgoing:
                            await ws.send(self._encode(self._outgoing.popleft()))
            finally:
                pinger.cancel()
                if refresher is not None:
                    refresher.cancel()
                self._ws = None
                self._linked.clear()
                self.rooms_book.disconnected()
            code = ws.close_code
            # That ingress is going away: resume on the next one ("reconnect (to any replica) and resume").
            if code in (CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART):
                self._url_index = (self._url_index + 1) % len(self.urls)
            if code == CloseCode.UNAUTHORIZED and self._token_fn is not None and self._expired(ws.close_reason or ""):
                self._stale = True  # reconnect with a new token and resume
                return
            if code in FATAL_CLOSE:
                raise HubClientError(f"closed {code}: {ws.close_reason or FATAL_CLOSE[code]}", code)

    async def _hello(self) -> dict[str, Any]:
        """The hello of a new connection: the token, `resume` once a position is known, `types` when
        given, and `rooms` (each joined room with its resume, PROTOCOL.md section 7) when there are any."""
        hello: dict[str, Any] = {"op": "hello", "token": await self._current_token()}
        if self.position is not None:
            hello["resume"] = self.position._asdict()
        if self.types is not None:
            hello["types"] = self.types
        rooms = self.rooms_book.specs()
        if rooms:
            hello["rooms"] = rooms
        self._asked_rooms = [spec["room"] for spec in rooms]
        return hello

    # -- tokens --------------------------------------------------------------------------------

    async def _call_token_fn(self) -> str:
        fn = self._token_fn
        assert fn is not None
        try:
            if inspect.iscoroutinefunction(fn):
                token = await fn()
            else:
                token = await asyncio.to_thread(fn)
                if inspect.isawaitable(token):
                    token = await token
        except Exception as exc:
            log.warning("the token function failed: %r", exc)
            raise _TokenUnavailable(f"the token function failed: {exc!r}") from exc
        if not isinstance(token, str) or not token:
            raise _TokenUnavailable(f"the token function returned {type(token).__name__}, not a token")
        return token

    async def _current_token(self) -> str:
        """The token for a hello or a poll: with a token function, a new one when there is none
        yet, the one in use expired (`_stale`) or it is past its refresh point."""
        if self._token_fn is not None and (
            self.token is None or self._stale or refresh_delay(self.token, time.time()) == 0
        ):
            self.token = await self._call_token_fn()
            self._stale = False
        assert self.token is not None
        return self.token

    def _expired(self, reason: str) -> bool:
        """Whether a 4401 close was for an expired token (the hub says so in the close reason; a
        token past its `exp` here counts too), as opposed to a bad one."""
        exp = token_times(self.token)[1]
        return "expired" in (reason or "") or (exp is not None and exp <= time.time())

    async def _refresher(self, ws: ClientConnection) -> None:
        """Send `refresh` with a new token at REFRESH_AT (85%, hub.clienttokens) of the current
        one's lifetime; after a failed or refused refresh, try again later; the hub's 4401 at expiry
        is the last resort."""
        while True:
            delay = refresh_delay(self.token, time.time())
            if delay is None:
                return
            await asyncio.sleep(delay)
            answer: Refreshed | ErrorFrame | None = None
            wire: dict[str, Any] = {}
            try:
                token = await self._call_token_fn()
                self._refresh_answer = asyncio.get_running_loop().create_future()
                await ws.send(self._encode({"op": "refresh", "token": token}))
                answer, wire = await asyncio.wait_for(self._refresh_answer, WELCOME_TIMEOUT)
            except (_TokenUnavailable, TimeoutError):
                pass
            except websockets.ConnectionClosed:
                return  # the session ends; the next one schedules its own refresh
            finally:
                self._refresh_answer = None
            if isinstance(answer, Refreshed):
                self.token = token
                self.refreshes += 1
                self._emit("refreshed", wire)
                continue
            log.warning("token refresh failed: %s", "no answer" if answer is None else answer.message)
            left = (token_times(self.token)[1] or 0.0) - time.time()
            if left <= 1.0:
                return  # no time for another try: the close at expiry, then a reconnect, follows
            await asyncio.sleep(max(1.0, left / 3))  # again before exp

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
            await ws.send(self._encode({"op": "ping", "id": n}))

    # -- long-poll fallback --------------------------------------------------------------------

    async def _poll_for(self, seconds: float) -> None:
        """Long-poll `/api/events` for `seconds`, then return so the WebSocket is tried again: `GET` with the
        stream position, or with rooms joined, `POST` with `{resume, rooms, timeout}` (PROTOCOL.md section 7),
        whose answer's `rooms` rejoin them; a join or leave meanwhile ends the poll in flight early."""
        self._set_state("polling")
        deadline = time.monotonic() + seconds
        retried = False  # a 401 with a token function: once more with a new token before giving up
        asked: set[str] = set()  # rooms polled for without waiting (to get their `joined` at once)
        async with httpx.AsyncClient(base_url=self.http_base, timeout=40) as http:
            while not self._closing and time.monotonic() < deadline:
                timeout = max(0.0, min(25.0, deadline - time.monotonic()))
                self._poll_wake.clear()
                rooms = self.rooms_book.specs()
                joining = {spec["room"] for spec in self.rooms_book.specs(unjoined=True)} - asked
                if joining:  # a room to join: its `joined` at once, not after a quiet poll (once per room)
                    timeout, asked = 0.0, asked | joining
                try:
                    http.headers["Authorization"] = f"Bearer {await self._current_token()}"
                    reply = await self._poll_once(http, timeout, rooms)
                except (httpx.HTTPError, _TokenUnavailable) as exc:
                    log.info("poll failed (%s)", exc)
                    await asyncio.sleep(backoff_delay(1, self.base_delay, self.max_delay, self._rng))
                    continue
                if reply is None:
                    continue  # the rooms changed: poll again with them
                if reply.status_code == 401 and self._token_fn is not None and not retried:
                    self._stale = retried = True
                    continue
                if reply.status_code == 401:
                    self._fail(HubClientError(f"unauthorized: {reply.json().get('detail')}", CloseCode.UNAUTHORIZED))
                    self._closing = True
                    return
                retried = False
                if reply.status_code != 200:
                    await asyncio.sleep(self.base_delay)
                    continue
                try:
                    wire = reply.json()
                    body = parse_events_reply(wire)
                except (ValueError, MalformedFrame) as exc:  # (json.JSONDecodeError is a ValueError)
                    log.warning("skipped a malformed answer to a poll: %s", exc)
                    await asyncio.sleep(self.base_delay)
                    continue
                if rooms:
                    self.rooms_book.answers(body.rooms, [spec["room"] for spec in rooms])
                if not body.resumed:  # a fresh start, as a welcome (the callbacks see `polling: true`)
                    welcome = Welcome(
                        op="welcome",
                        session="poll",
                        epoch=body.epoch,
                        seq=body.seq,
                        resumed=False,
                        snapshot=body.snapshot or [],
                    )
                    self._welcome(
                        welcome, {**welcome.model_dump(by_alias=True, exclude_unset=True), "polling": True}, True
                    )
                    self._set_state("polling")
                    kept = [i for i, env in enumerate(body.messages) if env.room is not None]  # rooms resume apart
                    self._deliver([body.messages[i] for i in kept], [wire["messages"][i] for i in kept])
                else:
                    self._deliver(body.messages, wire["messages"])
                while self._outgoing:  # ops that have an HTTP form go that way meanwhile
                    op = self._outgoing[0]
                    if op.get("op") != "cancel":
                        break
                    self._outgoing.popleft()
                    await http.post(f"/api/jobs/{op['jobId']}/cancel")
        self.rooms_book.disconnected()

    async def _poll_once(
        self, http: httpx.AsyncClient, timeout: float, rooms: list[dict[str, Any]]
    ) -> httpx.Response | None:
        """One long-poll request (GET, or POST with rooms); None when `wake_poll` ended it early."""
        if rooms:
            body: dict[str, Any] = {"rooms": rooms, "timeout": timeout}
            if self.position is not None:
                body["resume"] = self.position._asdict()
            request = http.post("/api/events", json=body)
        else:
            params: dict[str, Any] = {"timeout": timeout}
            if self.position is not None:
                params.update(epoch=self.position.epoch, after=self.position.seq)
            request = http.get("/api/events", params=params)
        poll = asyncio.ensure_future(request)
        woken = asyncio.ensure_future(self._poll_wake.wait())
        done: set[asyncio.Future[Any]] = set()
        try:
            done, _ = await asyncio.wait({poll, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            if poll not in done:
                poll.cancel()
                await asyncio.gather(poll, return_exceptions=True)
        return poll.result() if poll in done else None

    # -- frames --------------------------------------------------------------------------------

    def _encode(self, op: dict[str, Any]) -> str | bytes:
        """An op as the live socket's frame: MessagePack bytes on `hub.v1.msgpack`, else JSON text."""
        return pack(op) if self.wire_protocol == MSGPACK_SUBPROTOCOL else json.dumps(op)

    def _read(self, frame: str | bytes) -> Received:
        if self.wire_protocol != MSGPACK_SUBPROTOCOL:
            return read_server_frame(frame)
        if isinstance(frame, str):
            raise MalformedFrame("a text frame on a hub.v1.msgpack connection")
        try:
            wire = unpack_object(frame)
        except ValueError as exc:
            raise MalformedFrame(str(exc)) from None
        if not isinstance(wire, dict):
            raise MalformedFrame(f"frame is a MessagePack {type(wire).__name__}, not a map")
        return Received(parse_server_frame(wire), wire)

    def _receive(self, text: str | bytes) -> None:
        """One frame from the hub, read into its typed record at the socket's edge and handled; a malformed
        one is logged and skipped, an op this version does not know (a later protocol's) ignored."""
        try:
            frame, wire = self._read(text)
        except MalformedFrame as exc:
            log.warning("skipped a malformed frame from the hub: %s", exc)
            return
        if frame is None:
            log.debug("ignored a frame of an op this client does not know: %.80s", wire.get("op"))
        elif isinstance(frame, Batch):
            self._deliver(frame.messages, wire["messages"])
        elif isinstance(frame, Welcome):
            self._welcome(frame, wire)
        elif isinstance(frame, Refreshed) or (isinstance(frame, ErrorFrame) and frame.ref == "refresh"):
            if self._refresh_answer is not None and not self._refresh_answer.done():
                self._refresh_answer.set_result((frame, wire))
            if isinstance(frame, ErrorFrame):
                self._emit("error", wire)
        elif isinstance(frame, ErrorFrame):
            self.rooms_book.error(frame, wire)
            self._emit("error", wire)
        elif isinstance(frame, Joined):
            self.rooms_book.joined(frame, wire)
        elif isinstance(frame, Ack):
            self.rooms_book.ack(frame)
        elif isinstance(frame, Left):
            self.rooms_book.left(frame)
        elif isinstance(frame, Pong):
            self._emit("pong", wire)

    def _deliver(self, envelopes: list[WireEnvelope], wires: list[dict[str, Any]]) -> None:
        """Hand a batch's envelopes (typed, each with its JSON object for the callbacks) to the handlers,
        dropping those of the educator's stream already seen (delivery is at least once) and moving the
        position; an envelope of a room, or one with no seq (ephemeral), leaves the position as it is. A joined
        room's envelopes go through its Room first (its own seq and dedupe; hub.clientrooms.Rooms.envelope)."""
        for env, wire in zip(envelopes, wires, strict=True):
            if env.room is not None:
                if not self.rooms_book.envelope(env, wire):
                    continue  # a repeat in that room's stream
            elif env.seq is not None:
                if env.seq <= self.seq:
                    continue  # at least once: drop what was already seen
                if self.position is not None:
                    self.position = self.position._replace(seq=env.seq)
            job_id = env.data.get("jobId") if env.room is None else None
            if isinstance(job_id, str):
                # the job's newest state; an `item` (a finished question: PROTOCOL.md section 9) is the
                # message's, not the state's: handlers get it with the envelope
                job = {**self.jobs.get(job_id, {}), **env.data}
                job.pop("item", None)
                if "waiting" not in env.data:  # a job message carries the whole state: no longer waits
                    job.pop("waiting", None)
                self.jobs[job_id] = job
            self._emit(env.type, wire)
            self._emit("*", wire)

    def _welcome(self, frame: Welcome, wire: dict[str, Any], polling: bool = False) -> None:
        """A welcome (or a poll's fresh start, `polling`): a new position and job snapshot unless resumed."""
        self.connects += 1
        self.session = frame.session
        if self.heartbeat is None and frame.heartbeat is not None:
            self.heartbeat = frame.heartbeat
        if not frame.resumed:
            self.position = StreamPosition(frame.epoch, frame.seq)
            self.jobs = {job["jobId"]: job for job in frame.snapshot or []}
            self._emit("snapshot", wire)
        if not polling:
            self.rooms_book.answers(frame.rooms, self._asked_rooms)  # the rooms the hello rejoined
            self._asked_rooms = []
            self._set_state("connected")
        self._emit("welcome", wire)
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_result(wire)


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
        """`HubClient.start` on the client's thread: the first welcome frame (a dict). HubClientError or
        TimeoutError (30 s) as HubClient.start raises them."""
        return self.call(self.client.start())

    def join(
        self, room_id: str, presence: bool = True, info: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> SyncRoom:
        """`HubClient.join` on the client's thread: a SyncRoom (members, publish, typing, leave, next)."""
        room = self.call(self.client.join(room_id, presence, info, timeout), timeout + 5)
        return SyncRoom(room, self.call)

    def close(self) -> None:
        """Close the client (waiting up to 10 s), then stop its event loop and thread (up to 5 s more)."""
        try:
            self.call(self.client.close(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
