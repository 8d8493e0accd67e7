"""Per-frame costs behind two choices, measured with timeit (no server, no Ray): a few seconds.

- hub/ingress/wsproto.py frames data frames itself (`data_frame`) rather than through websockets'
  `ServerProtocol.send_text` + `data_to_send`;
- hub/metrics.py tallies what each batch frame counts in plain integers rather than calling
  prometheus_client's Counter and Histogram per frame.

    python bench/hotpath.py
"""

from __future__ import annotations

import json
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import prometheus_client as pc  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.server import ServerProtocol  # noqa: E402

from hub.ingress.wsproto import TrimmableDeflate, data_frame  # noqa: E402
from hub.metrics import IngressMetrics  # noqa: E402

MESSAGE = {"id": "e1:42", "type": "notification", "educatorId": "e1", "ts": 1.7e9, "data": {"title": "x" * 80}}


def per_call_us(fn: Callable[[], object], number: int = 50_000) -> float:
    """Best of 5 runs of `number` calls, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def frames() -> list[tuple[str, float]]:
    payload = json.dumps({"op": "batch", "messages": [MESSAGE]}).encode()
    ours = TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})
    proto = ServerProtocol()
    proto.state = State.OPEN
    proto.extensions = [TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})]

    def websockets_send() -> bytes:
        proto.send_text(payload)
        return b"".join(proto.data_to_send())

    n = len(payload)
    return [
        (f"hub data_frame, deflate ({n} B)", per_call_us(lambda: data_frame(payload, ours))),
        (f"websockets send_text + data_to_send, deflate ({n} B)", per_call_us(websockets_send)),
        (f"hub data_frame, uncompressed ({n} B)", per_call_us(lambda: data_frame(payload, None))),
        (
            f"websockets Frame.serialize, uncompressed ({n} B)",
            per_call_us(lambda: Frame(Opcode.TEXT, payload).serialize(mask=False)),
        ),
    ]


def metrics() -> list[tuple[str, float]]:
    registry = pc.CollectorRegistry()
    frames_out = pc.Counter("f_total", "f", ["op"], registry=registry).labels(op="batch")
    messages_out = pc.Counter("m_total", "m", registry=registry)
    skipped = pc.Counter("s_total", "s", registry=registry)
    sizes = pc.Histogram("b", "b", buckets=(1, 2, 5, 10, 20, 50, 100, 500), registry=registry)
    lags = pc.Histogram("l", "l", buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5), registry=registry)
    ts = time.time()

    def through_the_library(messages: int = 1, skip: int = 0) -> None:
        frames_out.inc()
        messages_out.inc(messages)
        if skip:
            skipped.inc(skip)
        sizes.observe(messages)
        lags.observe(time.time() - ts)

    hub = IngressMetrics()
    return [
        ("IngressMetrics.sent_batch (tallied)", per_call_us(lambda: hub.sent_batch(1, 0, ts), 500_000)),
        ("prometheus_client Counter x2 + Histogram x2", per_call_us(through_the_library, 500_000)),
    ]


def main() -> None:
    for name, us in frames() + metrics():
        print(f"{name:56s} {us:6.2f} us per frame")


if __name__ == "__main__":
    main()
