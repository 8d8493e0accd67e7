"""Starting the hub: Ray (local or joined), the registry shards and the uvicorn ingress."""

from __future__ import annotations

import errno
import logging
import math
import signal
import socket
import threading
import time
from typing import Any

import uvicorn

from hub.auth import SECRET_FILE, issue_token, resolve_secret
from hub.core.errors import HubError
from hub.raycluster import (
    RECORD_FILE,
    DataDirLock,
    holder_pid,
    in_use_message,
    join,
    logs_dir,
    read_record,
    start_local,
)
from hub.settings import Settings

log = logging.getLogger("hub.server")


def init_ray(settings: Settings) -> None:
    """Start Ray for this process unless it runs already: join `settings.address` when given (HubError
    with a sentence when the cluster is gone or refuses this machine's token), else a new local Ray
    with `settings.num_cpus` CPUs (None: all), in `settings.namespace`, without the daemons a
    one-node hub does not use (hub.raycluster.start_local; Ray's log monitor only with
    `settings.ray_log_monitor`)."""
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if settings.address:
        # Ray token auth for an explicit address, and a sentence (HubError) when the cluster is gone
        # or refuses this machine's token, instead of Ray's 20 s of retries and a ConnectionError.
        join(settings.address, settings.namespace, log_to_driver=True, **kwargs)
    else:
        # "local": always a new embedded Ray. Without it ray.init() joins whatever cluster this
        # machine last started (`ray start`, a test's ray.cluster_utils.Cluster) without saying so.
        log_monitor = bool(settings.ray_log_monitor)
        start_local(settings.namespace, settings.num_cpus, log_monitor=log_monitor, **kwargs)


def secret_source(settings: Settings) -> str:
    """Where the hub's token-signing secret comes from, in words: HUB_SECRET or the data dir's file."""
    return "HUB_SECRET" if settings.secret else str(settings.data_dir / SECRET_FILE)


def claim_data_dir(settings: Settings, lock: DataDirLock) -> None:
    """Take the data dir's lock, or share it with the hub that holds it when that hub runs the same
    job store (same Ray cluster and namespace: another ingress of one deployment). Otherwise a
    HubError naming the other hub's pid: two job stores must never write one jobs.db."""
    import ray

    if lock.try_acquire():
        return
    record = read_record(settings.data_dir)
    if (
        ray.is_initialized()
        and record is not None
        and record.get("address") == ray.get_runtime_context().gcs_address
        and record.get("namespace") == settings.namespace
    ):
        return
    raise HubError(in_use_message(settings.data_dir, holder_pid(settings.data_dir)))


def check_port(host: str, port: int) -> None:
    """HubError, a sentence, unless `host`:`port` can be listened on now: bind a socket to each of
    its addresses with SO_REUSEADDR (as uvicorn's listening sockets have it) and close it again.
    Run before Ray starts, so a second hub on a taken port fails at once, not after Ray and the
    shards. Port 0 (any free port) always passes."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise HubError(f"cannot listen on {host}: {exc.strerror} (give an address of this machine: --host)") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise HubError(
                        f"port {port} on {host} is in use (another hub?): stop it or choose --port"
                    ) from None
                raise HubError(f"cannot listen on port {port} on {host}: {exc.strerror}") from None


def build(settings: Settings, *, create_secret: bool = True, lock: DataDirLock | None = None) -> tuple[Any, str]:
    """Start (or join) Ray and the shards; return the ingress app and the token secret. With `lock`,
    first claim the data dir (see claim_data_dir); the caller releases it at stop."""
    import ray

    from actors.cluster import Cluster, start_actors
    from actors.shardcount import settle_shard_count
    from hub.ingress.app import create_app

    secret = resolve_secret(settings.secret, settings.data_dir, settings.host, create=create_secret)
    if lock is not None and not settings.address and not ray.is_initialized():
        claim_data_dir(settings, lock)  # before starting a local Ray that could never share it
    init_ray(settings)
    if lock is not None and not lock.held:
        claim_data_dir(settings, lock)
    # The first hub process of the namespace fixes the shard count (HUB_SHARDS, else from its machine's
    # size); later ones use it. `settings.shards` says afterwards which count this hub runs with.
    settings.shards = settle_shard_count(settings.shards, settings.default_shards(), settings.namespace)
    start_actors(
        settings.shards, settings.namespace, settings.shard_config(), str(settings.db_path), settings.store_busy_timeout
    )
    monitor = settings.monitor_config()
    cluster = Cluster(
        settings.shards,
        settings.namespace,
        monitor,
        settings.job_max_restarts,
        dataplane=monitor,
        pool=settings.monitor_pool,
        pool_lease=settings.monitor_pool_lease,
        pool_refill_delay=settings.monitor_pool_refill_delay,
    )
    return create_app(settings, secret, cluster), secret


def actor_logs_hint(settings: Settings) -> str:
    """Where the actors' output goes (job monitors' tracebacks under a failed job's reference), in
    words for `hub serve`'s start-up lines: this output too, or Ray's log directory on this node
    (and on each node of a joined cluster)."""
    where = logs_dir() or "Ray's log directory (/tmp/ray/session_latest/logs)"
    if settings.address:
        return f"the actors' logs (tracebacks of failed jobs) are in this output and in {where} on each node"
    if settings.ray_log_monitor:
        return f"the actors' logs (tracebacks of failed jobs) are in this output and in {where}"
    return f"the actors' logs (tracebacks of failed jobs) are in {where} (HUB_RAY_LOG_MONITOR=1: here too)"


def ray_address() -> str:
    """The GCS address of the Ray cluster this process is on (what a driver passes to ray.init)."""
    import ray

    return str(ray.get_runtime_context().gcs_address)


class HubServer(uvicorn.Server):
    """uvicorn, but on shutdown the hub first drains its WebSockets: queued batches are flushed and
    clients are closed with 1001 so they resume elsewhere, before uvicorn drops what is left.
    `drain_timeout`: the most seconds the drain takes (Settings.drain_timeout)."""

    def __init__(self, config: uvicorn.Config, *, drain_timeout: float) -> None:
        super().__init__(config)
        self.drain_timeout = drain_timeout

    async def shutdown(self, sockets: Any = None) -> None:
        """Drain the relay's connections (at most `drain_timeout` seconds), then uvicorn's own shutdown."""
        relay = getattr(getattr(self.config.app, "state", None), "relay", None)
        if relay is not None:
            await relay.drain(timeout=self.drain_timeout)
        await super().shutdown(sockets)


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """uvicorn's Config for the hub's ingress from `settings`; `extra` are further Config arguments
    (and overrides of access_log, log_level, http, log_config)."""
    from hub.ingress import wsproto
    from hub.ingress.httpproto import HeaderTimeoutProtocol

    metrics = getattr(getattr(app, "state", None), "metrics", None)
    count = (lambda: metrics.errors.inc(code="header_timeout")) if metrics is not None else None
    extra.setdefault("http", HeaderTimeoutProtocol.with_timeout(settings.header_timeout, on_timeout=count))
    if settings.log_format == "json":
        extra.setdefault("log_config", None)  # uvicorn's own logs go through the hub's JSON handler
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=wsproto.HubWebSocketProtocol.with_deflate(settings.deflate_window_bits, settings.deflate_mem_level),
        ws_max_size=settings.max_frame,
        ws_per_message_deflate=True,
        ws_ping_interval=settings.heartbeat,
        ws_ping_timeout=settings.heartbeat,
        log_level=extra.pop("log_level", settings.log_level),
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout),  # uvicorn takes whole seconds
        ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        **extra,
    )


def serve(settings: Settings) -> None:
    """`hub serve`: check the port, start Ray, the shards and the ingress, print where they are and
    how to make a token, and serve until SIGINT/SIGTERM (drained, then stopped). HubError with a
    sentence for a port in use, a data dir another hub holds, or a missing or refused secret."""
    from hub.cli import hub_command, token_hint

    check_port(settings.host, settings.port)  # before Ray: a taken port fails in a moment, not in 15 s
    lock = DataDirLock(settings.data_dir)
    try:
        app, _ = build(settings, lock=lock)
        address = ray_address()
        if lock.held:
            lock.record(address, settings.namespace, settings.public_url)
        ws_url = settings.public_url.replace("http", "ws", 1)
        print(f"hub: listening on {settings.public_url}  (WebSocket {ws_url}/ws)")
        print(f"hub: data dir {settings.data_dir}; job store {settings.db_path}; secret from {secret_source(settings)}")
        where = f"; recorded in {settings.data_dir / RECORD_FILE} for notebooks' custom job kinds" if lock.held else ""
        print(f"hub: Ray cluster {address}, namespace {settings.namespace}{where}")
        shards = f"{settings.shards} registry shard{'s' if settings.shards != 1 else ''}"
        print(f"hub: {shards}; {actor_logs_hint(settings)}")
        hint = token_hint(hub_command(), settings.data_dir, secret_set=bool(settings.secret))
        print(f"hub: a token for an educator: {hint}", flush=True)
        # uvicorn handles SIGINT/SIGTERM (drain, close 1001/1012) and re-raises the signal afterwards to
        # the handler it found; make that one a no-op instead of Ray's driver handler, which exits 15.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        HubServer(uvicorn_config(app, settings), drain_timeout=settings.drain_timeout).run()
    finally:
        lock.release()
    log.info("hub stopped")


class LocalHub:
    """A hub in this process (for notebooks and tests): Ray, shards and uvicorn on a thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(port=0)
        check_port(self.settings.host, self.settings.port)
        self.lock = DataDirLock(self.settings.data_dir)
        try:
            app, self.secret = build(self.settings, lock=self.lock)
            # No access log, and uvicorn at "warning" unless log_level was given (argument or
            # HUB_LOG_LEVEL): in a notebook they would print a line per HTTP request and per WebSocket
            # ('"WebSocket /ws" [accepted]', "connection open", from uvicorn.error) into the cell.
            level = self.settings.log_level if "log_level" in self.settings.model_fields_set else "warning"
            config = uvicorn_config(app, self.settings, access_log=False, log_level=level)
            self.server = HubServer(config, drain_timeout=self.settings.drain_timeout)
            self._thread = threading.Thread(target=self.server.run, name="hub-ingress", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + 30
            while not self.server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the hub's ingress did not start")
                time.sleep(0.02)
        except BaseException:
            self.lock.release()
            raise
        sock = self.server.servers[0].sockets[0]
        self.port: int = sock.getsockname()[1]
        self.url = f"{self.settings.scheme}://{self.settings.host}:{self.port}"
        if self.lock.held:
            self.lock.record(ray_address(), self.settings.namespace, self.url)

    @property
    def secret_source(self) -> str:
        """Where this hub's token-signing secret came from: HUB_SECRET or DATA_DIR/secret."""
        return secret_source(self.settings)

    @property
    def app(self) -> Any:
        """The ingress's FastAPI application (its `state` holds the relay and the metrics)."""
        return self.server.config.app

    def token(
        self, educator_id: str, role: str = "educator", ttl: float = 86400.0, rooms: list[str] | None = None
    ) -> str:
        """A token this hub accepts, for `educator_id` with `role`, valid for `ttl` seconds from now, that
        may use the rooms `rooms` patterns match (PROTOCOL.md section 7)."""
        return issue_token(self.secret, educator_id, role=role, ttl=ttl, now=time.time(), rooms=rooms)

    def stop(self) -> None:
        """Stop the ingress (drained, waiting at most 15 seconds for its thread) and release the data
        dir's lock. Ray stays up: the process that started it stops it (`ray.shutdown`)."""
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self.lock.release()

    def __enter__(self) -> LocalHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
