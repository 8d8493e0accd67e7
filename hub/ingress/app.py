"""The ingress application: FastAPI routes, the WebSocket endpoint and the relay's lifetime."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import WebSocketRoute

from hub import __version__
from hub.auth import Identity
from hub.core.errors import ShuttingDown
from hub.core.handles import ShardHandle
from hub.core.limits import Buckets, ConnectionCaps
from hub.core.records import ShardStats
from hub.ingress.api import BodyLimit, build_router, install_error_handlers, ping_all
from hub.ingress.apidocs import create_documented_app
from hub.ingress.desk import ClusterLike, JobDesk
from hub.ingress.edge import install_edge
from hub.ingress.relay import SHUTTING_DOWN, Relay
from hub.ingress.roomapi import build_room_router
from hub.ingress.ws import WsContext, serve_websocket
from hub.ingress.wsproto import give_back_memory
from hub.metrics import IngressMetrics, dataplane_families, shard_families
from hub.settings import Settings

log = logging.getLogger("hub.ingress")

STATIC = Path(__file__).resolve().parent.parent / "static"
# StaticFiles types files by the system's mime table, where `.ts` is Qt Linguist's: the client's
# TypeScript declarations (hub-client.d.ts) go out as TypeScript.
mimetypes.add_type("application/typescript", ".ts")


def create_app(settings: Settings, secret: str, cluster: ClusterLike) -> FastAPI:
    """The ingress's ASGI app: the HTTP API (PROTOCOL.md section 5), `GET /ws` (section 2), `/static` and the
    dashboard at `/`, relaying from `cluster`'s registry shards and submitting through its job store.
    `secret`: the token-signing key; every limit and timing comes from `settings`. The relay starts with
    the app's lifespan and, at its end, closes every connection 1001 (ShuttingDown) before it stops."""
    metrics = IngressMetrics()
    relay = Relay(cluster.shards, metrics, poll_timeout=settings.poll_timeout)
    desk = JobDesk(
        cluster,
        metrics,
        submit_limit=Buckets(settings.submit_rate, settings.submit_burst),
        max_upload=settings.max_upload,
        idempotency_ttl=settings.idempotency_ttl,
        idempotency_memo=settings.idempotency_memo,
    )
    metrics.gauge(
        "hub_connections", "Open WebSocket connections and waiting long-polls", lambda: relay.connection_count
    )
    metrics.gauge("hub_educators", "Educators with an open connection here", lambda: len(relay.conns))
    pool = getattr(cluster, "pool", None)  # warm job monitors (actors.pool), when the hub keeps them
    if pool is not None:
        metrics.gauge("hub_monitor_pool_ready", "Warm job monitors ready for a job", lambda: len(pool.ready_job_ids()))
        metrics.gauge("hub_monitor_pool_handed", "Jobs this ingress started on a warm monitor", lambda: pool.handed)
    metrics.gauge(
        "hub_send_queue_messages",
        "Messages waiting in send queues",
        lambda: sum(c.queued for cs in relay.conns.values() for c in cs),
    )

    async def trim_idle_compressors(idle: float) -> None:
        """Idle connections give their compressor's memory back (hub/ingress/wsproto.py)."""
        while True:
            await asyncio.sleep(idle / 2)
            trimmed = relay.trim_idle(time.monotonic() - idle)
            if trimmed:
                metrics.compressors_trimmed.inc(trimmed)
            if trimmed >= 64:  # worth a walk over the heap: 8 to 36 ms with 10,000 connections, so
                # on a thread (ctypes lets go of the GIL; Python's small objects come from its own arenas)
                await asyncio.get_running_loop().run_in_executor(None, give_back_memory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        relay.start()
        log.info("ingress %s relaying from %d shards", relay.ingress_id, len(cluster.shards))
        loop = asyncio.get_running_loop()
        trimmer = loop.create_task(trim_idle_compressors(settings.deflate_idle)) if settings.deflate_idle else None
        yield
        if trimmer is not None:
            trimmer.cancel()
        relay.close_all(ShuttingDown(SHUTTING_DOWN))
        app.state.poll_presence.close()
        await relay.stop()
        await cluster.close()

    app = create_documented_app(title="hub", version=__version__, lifespan=lifespan)  # /docs with no CDN
    app.state.relay = relay
    app.state.metrics = metrics
    app.state.cluster = cluster  # its warm monitor pool (actors.pool), for operators and tests
    install_error_handlers(app, metrics)
    app.add_middleware(BodyLimit, max_body=settings.max_body, metrics=metrics)
    install_edge(app, settings)  # HEAD as GET, then CORS outermost (hub/ingress/edge.py)

    async def ws_cancel(who: Identity, job_id: str) -> None:
        await desk.cancel(who, job_id)

    caps = ConnectionCaps(settings.max_connections_per_token, settings.max_connections)
    ctx = WsContext(settings=settings, secret=secret, relay=relay, metrics=metrics, cancel=ws_cancel, caps=caps)

    async def ws_endpoint(ws: WebSocket) -> None:
        await serve_websocket(ws, ctx)

    # A plain Starlette route: FastAPI's adds dependency solving (three AsyncExitStacks, a few KiB
    # per open connection) that this endpoint does not use.
    app.router.routes.append(WebSocketRoute("/ws", ws_endpoint))

    async def metrics_text() -> str:
        async def one(shard: ShardHandle) -> ShardStats | None:
            try:
                return await asyncio.wait_for(shard.stats(), 2.0)
            except Exception:  # a shard restarting: shown as hub_shard_up 0
                return None

        stats = await asyncio.gather(*(one(s) for s in cluster.shards))
        return metrics.render(shard_families(list(stats), relay.ingress_id) + dataplane_families(cluster.shards))

    async def health() -> tuple[bool, dict[str, Any]]:
        """Shards answer (ping_all) and this ingress's delivery from each is not stuck (Relay.stuck)."""
        ok, detail = await ping_all(cluster.shards)
        if not ok:
            return False, {**detail, "reason": f"registry shards unreachable: {detail.get('error')}"}
        stuck = relay.stuck(time.monotonic())
        if stuck is not None:
            return False, {**detail, "reason": f"delivery stuck: {stuck}"}
        return True, detail

    app.include_router(
        build_router(
            desk,
            secret,
            health,
            metrics_text,
            relay,
            token_leeway=settings.token_leeway,
            poll_max_messages=settings.poll_max_messages,
        )
    )

    rooms = build_room_router(relay, secret, settings, metrics)
    app.include_router(rooms)
    app.state.poll_presence = rooms.poll_presence  # type: ignore[attr-defined]

    app.mount("/static", StaticFiles(directory=STATIC, follow_symlink=True), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        """The dashboard: open it with ?token=... (or paste a token on the page)."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.ico", media_type="image/vnd.microsoft.icon")

    return app
