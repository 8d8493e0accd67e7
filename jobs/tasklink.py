"""The task's side of a task link (hub.core.tasklink): a job's Ray task reports to its job's monitor
through the TaskLink the monitor made (`JobContext.link`) and passed to it as an argument:

    @ray.remote
    def work(n: int, link: TaskLink) -> int:
        with link.open() as report:
            for i in range(n):
                report.progress(100 * i / n, f"step {i + 1} of {n}")   # or report.send(any msgpack value)
        return n

Each item is a WebSocket frame to the monitor (the websockets library, msgpack, a token the monitor
signed): plain on 127.0.0.1 from the monitor's node (nothing leaves the machine), TLS to the
monitor's node address from another node (its pinned self-signed certificate). Where no socket can
be made (the data plane off, a port blocked, the token refused), or once one breaks, it is an actor
call to the monitor (logged). Items arrive in the order sent; one sent just as the socket breaks
(before this side learns it) may be lost, as a progress tick may be coalesced: the next supersedes it."""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from hub.core.records import DataPlaneEndpoint
from hub.core.tasklink import encode

log = logging.getLogger("hub.job")


@dataclass(frozen=True)
class TaskLink:
    """A link from a Ray task to its job's monitor (picklable: pass it to the task). `channel`: its
    number at the monitor; `endpoint`: the monitor's link socket (None: it serves none, actor calls
    only); `monitor`: the monitor's Ray actor handle, for the actor-call path (None: no such path, as
    in unit tests); `tls_always`: TLS even from the monitor's node (Settings.dataplane_tls "always");
    `connect_timeout`: seconds to open the socket before the actor-call path
    (Settings.dataplane_connect_timeout)."""

    channel: int
    endpoint: DataPlaneEndpoint | None
    monitor: Any = None
    tls_always: bool = False
    connect_timeout: float = 3.0

    def open(self) -> Reporter:
        """Connect (at most `connect_timeout` seconds, then the actor-call path) and return the
        Reporter; use it as a context manager so the link is closed when the task is done."""
        return Reporter(self)


def pinned_context(cert_pem: str) -> ssl.SSLContext:
    """A TLS client context that trusts exactly `cert_pem` (a data-plane server's pinned self-signed
    certificate: a registry shard's, a job monitor's) and nothing else; host names are not checked
    (the pin is the identity). Here, the lowest layer both users reach: a task (jobs) and the
    shards' callers (actors.dataplane.keys.client_context)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=cert_pem)
    return context


class Reporter:
    """What a task sends items through (TaskLink.open); its threads may share it (items go in the
    order `send` is entered). Not for use after `close`. `transport`: "loopback", "tls" or "actor
    calls" (what the next item goes by); `fallback`: why items go by actor calls (the connect or
    send error, in words), None while the socket serves or where the link has no socket."""

    def __init__(self, link: TaskLink) -> None:
        self.link = link
        self.sent = 0  # items sent, either way
        self._calls: list[Any] = []  # refs of actor calls not yet known done (close waits for them)
        self._numbered = 0  # items sent by actor call: each is numbered, as the monitor orders them
        self._tls = False
        self.fallback: str | None = None
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()  # the connection, closed with it
        self._ws: Any = self._connect()

    def _connect(self) -> Any:
        endpoint = self.link.endpoint
        if endpoint is None:
            return None
        import ray
        from websockets.sync.client import connect

        here = ray.util.get_node_ip_address() if ray.is_initialized() else None
        self._tls = self.link.tls_always or endpoint.host != here
        if self._tls:
            url, context = f"wss://{endpoint.host}:{endpoint.port}", pinned_context(endpoint.cert_pem)
        else:
            url, context = f"ws://127.0.0.1:{endpoint.loopback_port}", None
        try:
            return self._stack.enter_context(
                connect(
                    f"{url}/{self.link.channel}",
                    additional_headers={"Authorization": f"Bearer {endpoint.token}"},
                    compression=None,
                    open_timeout=self.link.connect_timeout,
                    ssl=context,
                )
            )
        except Exception as exc:  # refused, timed out, rejected (4xx): the actor-call path instead
            self.fallback = f"no socket: {type(exc).__name__}: {exc}"
            log.warning(
                "task link %d: no socket to the job's monitor (%s); reporting by actor calls", self.link.channel, exc
            )
            return None

    @property
    def transport(self) -> str:
        """ "loopback" or "tls" while items go over the socket, else "actor calls"."""
        if self._ws is None:
            return "actor calls"
        return "tls" if self._tls else "loopback"

    def send(self, item: Any) -> None:
        """Send `item` (any value msgpack carries: None, bool, int, float, str, bytes, lists, dicts
        with str keys) to the link's handler at the monitor. TypeError for a value msgpack cannot
        carry; RuntimeError when neither a socket nor the monitor's handle is there."""
        frame = encode(self.link.channel, item)
        with self._lock:
            self._send(frame, item)

    def _send(self, frame: bytes, item: Any) -> None:
        if self._ws is not None:
            try:
                self._ws.send(frame)
                self.sent += 1
                return
            except Exception as exc:  # the socket broke: the rest go by actor calls
                self.fallback = f"socket lost: {type(exc).__name__}: {exc}"
                log.warning("task link %d: socket lost (%s); reporting by actor calls", self.link.channel, exc)
                self._close_socket()
        if self.link.monitor is None:
            raise RuntimeError("this task link has no socket and no monitor handle to report to")
        self._calls.append(self.link.monitor.link_item.remote(self.link.channel, self._numbered, item))
        self._numbered += 1
        self.sent += 1
        if len(self._calls) >= 256:  # forget the calls already done
            import ray

            _, self._calls = ray.wait(self._calls, num_returns=len(self._calls), timeout=0)

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        """A progress call for a link made with no handler of its own (`JobContext.link()`): the
        monitor calls `JobContext.progress(percent, message, **fields)` with it."""
        self.send([float(percent), message, fields] if fields else [float(percent), message])

    def _close_socket(self) -> None:
        self._ws = None
        try:
            self._stack.close()
        except Exception:  # already broken: nothing to close
            pass

    def close(self) -> None:
        """Close the socket (the monitor delivers every frame before it notices the close) and wait
        (up to 10 s) for the actor calls to have run, so whatever the task returns reaches the
        monitor after its items."""
        if self._ws is not None:
            self._close_socket()
        if self._calls:
            import ray

            try:
                ray.get(self._calls, timeout=10)
            except Exception as exc:  # the monitor is gone or slow: the task's result still goes
                log.warning("task link %d: reports not confirmed (%s)", self.link.channel, exc)
            self._calls = []

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
