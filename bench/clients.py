"""The benchmarks' WebSocket clients, run in their own processes (loopback only), all on the
`websockets` library so every server faces the same client cost:

- the hub's protocol (hello, then batch frames), which the bare FastAPI peer speaks too;
- a minimal Socket.IO v5 client (Engine.IO v4 straight over a WebSocket): read the open packet
  "0{...}", send "40" + auth JSON, read "40{...}", answer pings "2" with "3", take "42[event, data]".

`client_process` opens its connections, says how many are ready, waits for `go`, then reads until
its tally says every connection is done (or the time-out) and puts the tally's figures on `out`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

WIRE = [0]  # bytes received from sockets in this client process


def count_wire_bytes() -> None:
    """Count what arrives on the sockets (compressed, framed) before websockets decodes it."""
    from websockets.asyncio.connection import Connection

    original = Connection.data_received

    def counting(self: Any, data: bytes) -> None:
        WIRE[0] += len(data)
        original(self, data)

    Connection.data_received = counting  # type: ignore[method-assign]


async def greeted_hub(url: str, token: str, hello: dict[str, Any] | None = None, **options: Any) -> tuple[Any, Any]:
    """A connection to `url` (ws://.../ws) and its welcome (the decoded frame); `hello`: more fields of
    the hello (`rooms`: join them at connect, PROTOCOL.md section 7); `options` go to websockets'
    connect."""
    from websockets.asyncio.client import connect

    ws = await connect(url, **{"compression": "deflate", "max_size": None, "open_timeout": 60, **options})
    await ws.send(json.dumps({"op": "hello", "token": token, **(hello or {})}))
    return ws, json.loads(await ws.recv())


async def open_hub(url: str, token: str, hello: dict[str, Any] | None = None, **options: Any) -> Any:
    """A connection to `url` (ws://.../ws) past its welcome (greeted_hub)."""
    return (await greeted_hub(url, token, hello, **options))[0]


async def open_socketio(base: str, educator: str) -> Any:
    """A Socket.IO connection to the default namespace of the server at `base` (ws://host:port)."""
    from websockets.asyncio.client import connect

    ws = await connect(
        base + "/socket.io/?EIO=4&transport=websocket", compression="deflate", max_size=None, open_timeout=60
    )
    opened = await ws.recv()
    if not str(opened).startswith("0"):
        raise RuntimeError(f"Engine.IO open packet expected, got {opened!r}")
    await ws.send("40" + json.dumps({"educator": educator}))
    joined = await ws.recv()
    if not str(joined).startswith("40"):
        raise RuntimeError(f"Socket.IO connect refused: {joined!r}")
    return ws


async def next_messages(ws: Any, socketio: bool) -> list[dict[str, Any]]:
    """The envelopes of the next frame (none for a ping or another packet)."""
    raw = await ws.recv()
    if not socketio:
        return list(json.loads(raw).get("messages", []))
    if raw == "2":
        await ws.send("3")
        return []
    if raw.startswith("42"):
        return list(json.loads(raw[2:])[1].get("messages", []))
    return []


class Tally(Protocol):
    def add(self, conn: int, messages: list[dict[str, Any]], now: float) -> bool:
        """Record one frame's messages on connection `conn`; True when that connection is done."""

    def figures(self) -> dict[str, Any]: ...


def client_process(
    url: str,
    names: list[str],
    socketio: bool,
    tally: Tally,
    timeout: float,
    ready: Any,
    go: Any,
    out: Any,
    hello: dict[str, Any] | None = None,
) -> None:
    """Open one connection per name (a hub token, or an educator id for the peers; `hello`: more
    fields of each hub connection's hello), then read."""

    count_wire_bytes()

    async def run() -> None:
        sockets = [await (open_socketio(url, n) if socketio else open_hub(url, n, hello)) for n in names]
        ready.put(len(sockets))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        start_bytes = WIRE[0]
        deadline = time.time() + timeout

        async def reader(i: int, ws: Any) -> None:
            while time.time() < deadline:
                try:
                    messages = await asyncio.wait_for(next_messages(ws, socketio), deadline - time.time())
                except Exception:  # a timeout or a closed connection ends this reader
                    return
                if tally.add(i, messages, time.time()):
                    return

        await asyncio.gather(*(reader(i, ws) for i, ws in enumerate(sockets)))
        out.put({**tally.figures(), "bytes": WIRE[0] - start_bytes, "done": time.time()})
        for ws in sockets:
            await ws.close()

    asyncio.run(run())


def start_clients(
    url: str,
    names: list[str],
    socketio: bool,
    tally: Tally,
    timeout: float,
    procs: int = 2,
    hello: dict[str, Any] | None = None,
) -> tuple[int, Any, Callable[[], list[dict[str, Any]]]]:
    """Spawn `procs` client processes sharing `names` (`hello`: more fields of each hub connection's
    hello); returns (connections ready, the `go` event, a function that collects every process's
    figures)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(
            target=client_process,
            args=(url, names[i::procs], socketio, tally, timeout, ready, go, out, hello),
            daemon=True,
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    connected = sum(ready.get(timeout=300) for _ in workers)

    def collect() -> list[dict[str, Any]]:
        results = [out.get(timeout=timeout + 60) for _ in workers]
        for w in workers:
            w.join(timeout=30)
        return results

    return connected, go, collect
