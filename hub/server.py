"""Starting the hub: Ray (local or joined), the registry shards and the uvicorn ingress."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import uvicorn

from hub.auth import issue_token, resolve_secret
from hub.settings import Settings

log = logging.getLogger("hub.server")


def init_ray(settings: Settings) -> None:
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "namespace": settings.namespace,
        "include_dashboard": False,
        "log_to_driver": True,
        "configure_logging": False,
    }
    if settings.address:
        ray.init(address=settings.address, **kwargs)
    else:
        # "local": always a new embedded Ray. Without it ray.init() joins whatever cluster this
        # machine last started (`ray start`, a test's ray.cluster_utils.Cluster) without saying so.
        ray.init(address="local", num_cpus=settings.num_cpus, **kwargs)


def build(settings: Settings, *, create_secret: bool = True) -> tuple[Any, str]:
    """Start (or join) Ray and the shards; return the ingress app and the token secret."""
    from actors.handles import Cluster, start_actors
    from hub.ingress.app import create_app

    secret = resolve_secret(settings.secret, settings.data_dir, settings.host, create=create_secret)
    init_ray(settings)
    start_actors(
        settings.shards, settings.namespace, settings.shard_config(), str(settings.db_path), settings.store_busy_timeout
    )
    cluster = Cluster(settings.shards, settings.namespace, settings.progress_interval, settings.job_max_restarts)
    return create_app(settings, secret, cluster), secret


class HubServer(uvicorn.Server):
    """uvicorn, but on shutdown the hub first drains its WebSockets: queued batches are flushed and
    clients are closed with 1001 so they resume elsewhere, before uvicorn drops what is left."""

    async def shutdown(self, sockets: Any = None) -> None:
        relay = getattr(getattr(self.config.app, "state", None), "relay", None)
        if relay is not None:
            await relay.drain(timeout=5.0)
        await super().shutdown(sockets)


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    from hub.ingress import wsproto
    from hub.ingress.httpproto import HeaderTimeoutProtocol

    metrics = getattr(getattr(app, "state", None), "metrics", None)
    count = (lambda: metrics.errors.inc(code="header_timeout")) if metrics is not None else None
    extra.setdefault("http", HeaderTimeoutProtocol.with_timeout(settings.header_timeout, on_timeout=count))
    wsproto.DEFLATE.update(window_bits=settings.deflate_window_bits, mem_level=settings.deflate_mem_level)
    if settings.log_format == "json":
        extra.setdefault("log_config", None)  # uvicorn's own logs go through the hub's JSON handler
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=wsproto.HubWebSocketProtocol,
        ws_max_size=settings.max_frame,
        ws_per_message_deflate=True,
        ws_ping_interval=settings.heartbeat,
        ws_ping_timeout=settings.heartbeat,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
        ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        **extra,
    )


def serve(settings: Settings) -> None:
    app, _ = build(settings)
    print(f"hub: listening on {settings.public_url}  (WebSocket {settings.public_url.replace('http', 'ws', 1)}/ws)")
    print(f"hub: data dir {settings.data_dir}; a token for an educator: hub token EDUCATOR_ID", flush=True)
    # uvicorn handles SIGINT/SIGTERM (drain, close 1001/1012) and re-raises the signal afterwards to
    # the handler it found; make that one a no-op instead of Ray's driver handler, which exits 15.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    HubServer(uvicorn_config(app, settings)).run()
    log.info("hub stopped")


class LocalHub:
    """A hub in this process (for notebooks and tests): Ray, shards and uvicorn on a thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(port=0)
        app, self.secret = build(self.settings)
        config = uvicorn_config(app, self.settings)
        self.server = HubServer(config)
        self._thread = threading.Thread(target=self.server.run, name="hub-ingress", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub's ingress did not start")
            time.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        self.port: int = sock.getsockname()[1]
        self.url = f"{self.settings.scheme}://{self.settings.host}:{self.port}"

    @property
    def app(self) -> Any:
        return self.server.config.app

    def token(self, educator_id: str, role: str = "educator", ttl: float = 86400.0) -> str:
        return issue_token(self.secret, educator_id, role=role, ttl=ttl, now=time.time())

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> LocalHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
