"""bench/protocols.py's in-process part: the hub's own encoding functions timed alone, per delivery, for
each cell (JSON or MessagePack, with or without permessage-deflate), and a client's decoding of the
same frames. No sockets: what the live windows cannot separate (the ingress's CPU there also holds
its reads from the shards and its writes to the sockets).

Server, per delivery, as the ingress does it (hub.ingress.relay, hub.ingress.connection,
hub.ingress.wsproto):
- first delivery of a message: the envelope's JSON text made (data_json + envelope_json, once per
  message and educator for every connection), for MessagePack also packed (MsgpackFrames.envelope: a
  memo miss), then the connection's batch frame and its WebSocket frame (data_frame, compressed by a
  TrimmableDeflate with the hub's default window and memLevel, context kept between messages);
- each further connection of that educator: the batch frame and the WebSocket frame only (the text and,
  for MessagePack, the packed bytes are shared).
Client: inflating the payload (zlib, a fresh context a message), then UTF-8 and json.loads, or
msgpack.unpackb. HTTP: the answer's body rendered (StrictJSONResponse, MsgpackResponse).
Each figure is the median of many calls, in microseconds of this thread's CPU time (time.thread_time); the
server's cells take turns message by message.
"""

from __future__ import annotations

import json
import statistics
import time
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import msgpack

from bench.protocol_clients import CELLS


def median_cpu_us(calls: list[Callable[[], Any]]) -> float:
    """The median CPU time of one call, in microseconds (this thread's: time.thread_time, so another
    process on the shared cores does not count)."""
    times = []
    for call in calls:
        t0 = time.thread_time()
        call()
        times.append(time.thread_time() - t0)
    return 1e6 * statistics.median(times)


def _json_loads(payload: bytes) -> Any:
    """A text frame's payload as a client gets it: UTF-8 decoded (websockets does it), then json.loads."""
    return json.loads(payload.decode())


def _deflate() -> Any:
    from hub.ingress.wsproto import TrimmableDeflate
    from hub.settings import Settings

    fields = Settings.model_fields
    bits = fields["deflate_window_bits"].default
    return TrimmableDeflate(True, False, bits, bits, {"memLevel": fields["deflate_mem_level"].default})


def server_encode(mtype: str, datas: list[dict[str, Any]], repeat: int) -> dict[str, dict[str, float]]:
    """{cell: {"first_us", "further_us", "payload_bytes"}} for `repeat` messages whose data cycle through
    `datas` (module docstring)."""
    from hub.core.codecs import MsgpackFrames
    from hub.core.protocol import batch_frame, envelope_json
    from hub.ingress.connection import data_json
    from hub.ingress.wsproto import data_frame

    state = {
        cell: (
            subprotocol.endswith("msgpack"),
            MsgpackFrames(),
            *((_deflate(), _deflate()) if compression else (None, None)),
        )
        for cell, (subprotocol, compression) in CELLS.items()
    }  # per cell: binary, its packing memo, a connection's compressor (first deliveries), another's (further)
    first: dict[str, list[float]] = {cell: [] for cell in CELLS}
    further: dict[str, list[float]] = {cell: [] for cell in CELLS}
    sizes: dict[str, int] = {}
    for i in range(repeat):  # the cells in turn for each message, so a drift of the machine favours none
        data = datas[i % len(datas)]
        for cell, (binary, frames, deflate, other) in state.items():
            t0 = time.thread_time()
            text = envelope_json(i + 1, mtype, 1764547200.0 + i, data, data_json(data))
            payload = frames.batch([text], 0) if binary else batch_frame([text]).encode()
            data_frame(payload, deflate, binary=binary)
            t1 = time.thread_time()
            payload = frames.batch([text], 0) if binary else batch_frame([text]).encode()
            data_frame(payload, other, binary=binary)
            t2 = time.thread_time()
            first[cell].append(t1 - t0)
            further[cell].append(t2 - t1)
            sizes[cell] = len(payload)
    return {
        cell: {
            "first_us": 1e6 * statistics.median(first[cell]),
            "further_us": 1e6 * statistics.median(further[cell]),
            "payload_bytes": sizes[cell],
        }
        for cell in CELLS
    }


def client_decode(mtype: str, data: dict[str, Any], repeat: int) -> dict[str, dict[str, float]]:
    """{cell: {"decode_us", "inflate_us"}}: one batch frame of one envelope of `data`, decoded `repeat`
    times (module docstring)."""
    from hub.core.codecs import MsgpackFrames
    from hub.core.protocol import batch_frame, envelope_json

    text = envelope_json(7, mtype, 1764547200.0, data)
    payloads = {"hub.v1": batch_frame([text]).encode(), "hub.v1.msgpack": MsgpackFrames().batch([text], 0)}
    calls: dict[str, list[Callable[[], Any]]] = {}
    for cell, (subprotocol, compression) in CELLS.items():
        payload = payloads[subprotocol]
        binary = subprotocol.endswith("msgpack")
        calls[cell] = [partial(msgpack.unpackb, payload) if binary else partial(_json_loads, payload)]
        if compression:  # what arrives (no earlier context: an upper bound), and its inflating
            squeezed = zlib.compress(payload, 6, -15) + b"\x00\x00\xff\xff"
            calls[cell].append(partial(_inflate, squeezed))
    spent: dict[str, list[list[float]]] = {cell: [[] for _ in found] for cell, found in calls.items()}
    for _ in range(repeat):  # the cells in turn, each call timed alone
        for cell, found in calls.items():
            for k, call in enumerate(found):
                t0 = time.thread_time()
                call()
                spent[cell][k].append(time.thread_time() - t0)
    return {
        cell: {
            "decode_us": 1e6 * statistics.median(times[0]),
            "inflate_us": 1e6 * statistics.median(times[1]) if len(times) > 1 else 0.0,
        }
        for cell, times in spent.items()
    }


def _inflate(squeezed: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(squeezed)


def http_render(result: dict[str, Any], repeat: int) -> dict[str, float]:
    """{"json_us", "msgpack_us"}: the result's HTTP answer body made (hub.ingress.strict)."""
    from hub.ingress.strict import MsgpackResponse, StrictJSONResponse

    return {
        "json_us": median_cpu_us([lambda: StrictJSONResponse(result)] * repeat),
        "msgpack_us": median_cpu_us([lambda: MsgpackResponse(result)] * repeat),
    }


def micro(stream: list[dict[str, Any]], result: dict[str, Any]) -> dict[str, Any]:
    """Every in-process figure: the progress stream's and the quiz result's server encoding and client
    decoding per cell, and the result's HTTP rendering."""
    large = {"educatorId": "bench-proto-large", "updates": {"quiz": result}}
    return {
        "progress": {
            "server": server_encode("quiz_status", stream, 2000),
            "client": client_decode("quiz_status", stream[len(stream) // 2], 2000),
        },
        "large": {
            "server": server_encode("analytics_update", [large], 200),
            "client": client_decode("analytics_update", large, 200),
        },
        "http": http_render(result, 100),
    }
