"""Pickling cost of a registry shard's pull reply (a feed batch) by the shape of what it carries:
what a shard pays to send a pull to an ingress over Ray, and the ingress to receive it.

    python bench/records.py [--envelopes 200] [--number 200]

Each shape holds the same `--envelopes` progress envelopes (one data dict each, as job progress
ticks are) wrapped in a reply: a dict reply with a dict per envelope (what "dicts read by string
key" costs), frozen slotted dataclasses, the hub's Envelope named tuples, plain tuples in a dict
reply, and what the hub sends (hub.core.records.FeedBatch holding plain tuples). Prints a Markdown
table: microseconds per pickle.dumps and per pickle.loads (protocol 5, best of 5 runs) and bytes.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import timeit
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.records import FeedBatch  # noqa: E402
from hub.core.stream import Envelope  # noqa: E402


@dataclass(frozen=True, slots=True)
class FrozenEnvelope:
    """An envelope as a frozen dataclass with slots (the shape used before 2026-11-26)."""

    educator_id: str
    seq: int
    type: str
    ts: float
    data: dict[str, Any]
    job_id: str | None = None
    tick: bool = False


def envelopes(n: int) -> list[Envelope]:
    """`n` progress ticks of ten jobs of one educator, each with its own data dict."""
    return [
        Envelope(
            "educator-0001",
            i + 1,
            "job_progress",
            1.7e9 + i * 0.01,
            {
                "jobId": f"job-{i % 10:04d}",
                "status": "processing",
                "progress": round(i * 0.37 % 99, 2),
                "message": f"Generating question {i % 10 + 1} of 10",
                "etaSeconds": 12.5,
            },
            f"job-{i % 10:04d}",
            True,
        )
        for i in range(n)
    ]


def shapes(envs: list[Envelope]) -> dict[str, Any]:
    """The same pull reply in each shape compared."""
    epoch = "0123456789abcdef"
    return {
        "dict reply, dict envelopes": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, env._asdict()) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "dict reply, frozen dataclass envelopes": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, FrozenEnvelope(*env)) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "dict reply, Envelope named tuples": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, env) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "FeedBatch, Envelope named tuples": FeedBatch(epoch, False, list(enumerate(envs, 1)), False),
        "dict reply, plain tuples": {
            "epoch": epoch,
            "unknown": False,
            "items": [(n, tuple(env)) for n, env in enumerate(envs, 1)],
            "lost": False,
        },
        "FeedBatch, plain tuples (the hub)": FeedBatch(
            epoch, False, [(n, tuple(env)) for n, env in enumerate(envs, 1)], False
        ),
    }


def best_us(call: Any, number: int) -> float:
    """Microseconds per call, best of 5 runs of `number` calls."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=200, help="envelopes in the batch (default 200)")
    parser.add_argument("--number", type=int, default=200, help="calls per timing run (default 200)")
    args = parser.parse_args()
    rows = []
    for name, reply in shapes(envelopes(args.envelopes)).items():
        blob = pickle.dumps(reply, protocol=5)
        assert pickle.loads(blob) == reply
        dumps = best_us(lambda reply=reply: pickle.dumps(reply, protocol=5), args.number)
        loads = best_us(lambda blob=blob: pickle.loads(blob), args.number)
        rows.append((name, dumps, loads, len(blob)))
    base = next(r for r in rows if r[0].endswith("(the hub)"))
    print(f"pull reply of {args.envelopes} envelopes; Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print()
    print("| shape | dumps us | loads us | dumps+loads vs the hub's | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, dumps, loads, size in rows:
        ratio = (dumps + loads) / (base[1] + base[2])
        print(f"| {name} | {dumps:.0f} | {loads:.0f} | {ratio:.2f} x | {size:,} |")


if __name__ == "__main__":
    main()
