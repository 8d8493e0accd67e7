"""The WebSocket clients of bench/protocols.py: a pool of processes (loopback only), each holding its
share of every cell's connections for the whole run, so the cells are measured one after another on
the same connections and the same processes.

A cell is a protocol and a compression, as a client asks for them from the `websockets` library:
subprotocol `hub.v1` (JSON text frames) or `hub.v1.msgpack` (MessagePack binary frames, PROTOCOL.md
section 8), with permessage-deflate (`compression="deflate"`) or without (`None`). Each process counts
the bytes every connection reads from its TCP socket (websockets' `data_received`: frame headers and
payloads, compressed where deflate is on, before websockets decodes them), the CPU time its `decode`
of each frame takes (json.loads or msgpack.unpackb: what an application's client does with a frame),
and its own CPU time (everything the client does: framing, inflating, decoding).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import msgpack

CELLS: dict[str, tuple[str, str | None]] = {  # key -> (subprotocol offered, compression)
    "json": ("hub.v1", None),
    "json+deflate": ("hub.v1", "deflate"),
    "msgpack": ("hub.v1.msgpack", None),
    "msgpack+deflate": ("hub.v1.msgpack", "deflate"),
}
LABELS = {
    "json": "JSON",
    "json+deflate": "JSON + deflate",
    "msgpack": "MessagePack",
    "msgpack+deflate": "MessagePack + deflate",
}


def count_bytes_per_connection() -> None:
    """Count, on each websockets connection (`wire_bytes`), the bytes it reads from its socket."""
    from websockets.asyncio.connection import Connection

    original = Connection.data_received

    def counting(self: Any, data: bytes) -> None:
        self.wire_bytes = getattr(self, "wire_bytes", 0) + len(data)
        original(self, data)

    Connection.data_received = counting  # type: ignore[method-assign]


def decode(frame: str | bytes) -> Any:
    """A frame as its object: a text frame is JSON, a binary one MessagePack (as clients decode them)."""
    return msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)


async def open_cell(url: str, token: str, cell: str) -> Any:
    """A connection to `url` (ws://.../ws) in `cell`'s protocol and compression, past its welcome."""
    from websockets.asyncio.client import connect

    subprotocol, compression = CELLS[cell]
    ws = await connect(
        url,
        subprotocols=[subprotocol],  # type: ignore[list-item]
        compression=compression,
        max_size=None,
        open_timeout=60,
    )
    if ws.subprotocol != subprotocol:
        raise RuntimeError(f"asked for {subprotocol}, the hub chose {ws.subprotocol}")
    hello = {"op": "hello", "token": token}
    await ws.send(msgpack.packb(hello) if subprotocol.endswith("msgpack") else json.dumps(hello))
    welcome = decode(await ws.recv())
    if welcome.get("op") != "welcome":
        raise RuntimeError(f"welcome expected, got {welcome}")
    return ws


async def read_envelopes(ws: Any, expect: int, deadline: float) -> tuple[int, int, float]:
    """Read frames until `expect` envelopes came in batch frames (or the deadline); returns
    (envelopes, frames, CPU seconds spent decoding them)."""
    envelopes = frames = 0
    decoding = 0.0
    while envelopes < expect:
        try:
            raw = await asyncio.wait_for(ws.recv(), deadline - time.time())
        except Exception:  # a time-out or a closed connection: report what came
            break
        t0 = time.thread_time()
        frame = decode(raw)
        decoding += time.thread_time() - t0
        frames += 1
        if frame.get("op") == "batch":
            envelopes += len(frame["messages"])
    return envelopes, frames, decoding


def client_process(url: str, groups: dict[str, tuple[str, list[str]]], commands: Any, out: Any) -> None:
    """Open `groups` ({group: (cell, tokens)}: one connection per token), put ("ready", count) on `out`,
    then serve `commands`: (group, envelopes each connection expects, seconds) arms the group (its
    byte counts and this process's CPU time noted; ("armed", group) on `out`), reads until every
    connection of it has its envelopes and puts ("done", figures); None closes everything."""
    count_bytes_per_connection()

    async def run() -> None:
        conns: dict[str, list[Any]] = {}
        for name, (cell, tokens) in groups.items():
            conns[name] = []
            for start in range(0, len(tokens), 25):
                conns[name] += await asyncio.gather(*(open_cell(url, t, cell) for t in tokens[start : start + 25]))
        out.put(("ready", sum(len(v) for v in conns.values())))
        loop = asyncio.get_running_loop()
        while (command := await loop.run_in_executor(None, commands.get)) is not None:
            name, expect, seconds = command
            sockets = conns[name]
            before = sum(getattr(ws, "wire_bytes", 0) for ws in sockets)
            cpu0 = time.process_time()
            out.put(("armed", name))
            deadline = time.time() + seconds
            read = await asyncio.gather(*(read_envelopes(ws, expect, deadline) for ws in sockets))
            out.put(
                (
                    "done",
                    {
                        "envelopes": sum(r[0] for r in read),
                        "frames": sum(r[1] for r in read),
                        "decode_s": sum(r[2] for r in read),
                        "client_cpu_s": time.process_time() - cpu0,
                        "bytes": sum(getattr(ws, "wire_bytes", 0) for ws in sockets) - before,
                    },
                )
            )
        await asyncio.gather(*(ws.close() for sockets in conns.values() for ws in sockets), return_exceptions=True)

    asyncio.run(run())


class ClientPool:
    """`procs` client processes sharing every group's tokens ({group: (cell, tokens)}), started by
    `start` (which waits until every connection is open) and stopped by `stop`."""

    def __init__(self, url: str, groups: dict[str, tuple[str, list[str]]], procs: int = 2) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.out = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(procs)]
        self.workers = [
            ctx.Process(
                target=client_process,
                args=(url, {g: (cell, tokens[i::procs]) for g, (cell, tokens) in groups.items()}, q, self.out),
                daemon=True,
            )
            for i, q in enumerate(self.commands)
        ]

    def _get(self, kind: str, timeout: float) -> Any:
        """The next figure on `out`, which must be of `kind`; RuntimeError, saying which, when a client process
        ended first or nothing came within `timeout` seconds."""
        import queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                got, value = self.out.get(timeout=1.0)
                break
            except queue.Empty:
                dead = [w.exitcode for w in self.workers if w.exitcode is not None]
                if dead or time.monotonic() > deadline:
                    why = f"a client process exited ({dead})" if dead else f"nothing in {timeout:g} s"
                    raise RuntimeError(f"waiting for {kind!r} from the client processes: {why}") from None
        if got != kind:
            raise RuntimeError(f"client process said {got!r}, expected {kind!r}")
        return value

    def start(self) -> int:
        """Start the processes; the number of connections open once all of them are."""
        for w in self.workers:
            w.start()
        return sum(self._get("ready", 300) for _ in self.workers)

    def arm(self, group: str, expect: int, seconds: float) -> None:
        """Every process starts reading `group` (each of its connections until `expect` envelopes, at most
        `seconds`); returns once all of them have noted their starting figures."""
        for q in self.commands:
            q.put((group, expect, seconds))
        for _ in self.workers:
            self._get("armed", 60)

    def collect(self, timeout: float) -> dict[str, float]:
        """The armed group's figures, summed over the processes."""
        total: dict[str, float] = {}
        for _ in self.workers:
            for key, value in self._get("done", timeout).items():
                total[key] = total.get(key, 0) + value
        return total

    def stop(self) -> None:
        """Close every connection and end the processes."""
        for q in self.commands:
            q.put(None)
        for w in self.workers:
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()
