"""The typed records that cross process boundaries (hub.core.records): they survive pickling as
themselves (by reference to their module, as Ray and the data-plane sockets carry them), a pull
still carries its envelopes as plain tuples (the measured pickling cost), and positions compare as
the (epoch, seq) pairs they are."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pickle
import pickletools
from typing import Any

import pytest

from actors.handles import ShardClient, StoreClient
from actors.registry import RegistryShard
from actors.store import JobStore
from hub.core import records
from hub.core.config import ShardConfig
from hub.core.handles import ShardHandle, StoreHandle
from hub.core.records import (
    DataPlaneEndpoint,
    DocumentRecord,
    FeedBatch,
    HelloReply,
    Outline,
    PublishReply,
    QuizRecord,
    RoomJoinReply,
    ShardStats,
    StreamPosition,
)
from hub.core.stream import EducatorStream, Envelope
from tests.unit.conftest import FakeClock
from tests.unit.test_registry_shard import state

SAMPLES = [
    StreamPosition("e1", 7),
    FeedBatch("e1", False, [(1, tuple(Envelope("alice", 1, "quiz_status", 1.0, {"jobId": "j"}, "j", False)))], False),
    HelloReply(StreamPosition("e1", 3), False, [], [{"jobId": "j"}], True),
    HelloReply(StreamPosition("e1", 3), True, [Envelope("alice", 3, "notification", 1.0, {"title": "t"})]),
    PublishReply("e1", [1, 0, 2]),
    Outline("alice", ["q1-1"], None),
    QuizRecord("q1", "alice", None, "text", [{"id": "q1-1"}]),
    DocumentRecord("d1", "alice", "a.pdf", "text", {"chunks": []}),
    ShardStats(0, "e1", 1, 2, 1, 5, {"ingress-1": 0}, {"queued": 2}),
    ShardStats(0, "e1", 1, 2, 1, 5, {}, {}, rooms=2, room_members=3, presence_changes=4, room_messages=5),
    RoomJoinReply(
        StreamPosition("e1", 4),
        True,
        [Envelope("quiz:q", 4, "presence", 1.0, {"action": "join"}, room="quiz:q")],
        [{"educatorId": "alice", "connections": 1}],
        1,
    ),
    DataPlaneEndpoint("10.0.0.2", 40001, 40002, "-----BEGIN CERTIFICATE-----", "token"),
]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_a_record_pickles_by_reference_and_comes_back_equal_and_typed(record: tuple[object, ...]) -> None:
    cls = type(record)
    # importable where it is defined: pickle names the class, it never copies it
    assert getattr(importlib.import_module(cls.__module__), cls.__qualname__) is cls
    blob = pickle.dumps(record, protocol=5)
    names = {
        str(arg) for op, arg, _ in pickletools.genops(blob) if op.name in ("GLOBAL", "STACK_GLOBAL", "SHORT_BINUNICODE")
    }
    assert cls.__qualname__ in names and cls.__module__ in names
    back = pickle.loads(blob)
    assert type(back) is cls and back == record


def test_every_record_the_module_exports_is_sampled_here() -> None:
    exported = {getattr(records, n) for n in records.__all__ if isinstance(getattr(records, n), type)}
    assert exported - {Envelope} == {type(r) for r in SAMPLES}


def test_a_position_is_the_pair_it_names() -> None:
    position = StreamPosition("e1", 4)
    epoch, seq = position
    assert (epoch, seq) == ("e1", 4) and position == ("e1", 4)
    assert position._replace(seq=5) == StreamPosition("e1", 5)


def test_a_stream_reports_its_position_and_resumes_from_one() -> None:
    stream = EducatorStream("alice", "e1", max_messages=10, max_age=60.0)
    assert stream.position == StreamPosition("e1", 0)
    stream.append("notification", {"title": "a"}, 1.0)
    stream.append("notification", {"title": "b"}, 2.0)
    assert stream.position == StreamPosition("e1", 2)
    assert [e.seq for e in stream.since(StreamPosition("e1", 1), 3.0) or []] == [2]
    assert stream.since(stream.position, 3.0) == []
    assert stream.since(StreamPosition("e0", 1), 3.0) is None


def test_a_shard_answers_in_records_and_a_pull_carries_plain_tuples(clock: FakeClock) -> None:
    async def go() -> None:
        shard = RegistryShard(0, ShardConfig(), clock)
        hello = await shard.hello("ing", "alice", None)
        assert isinstance(hello, HelloReply) and hello.position == StreamPosition(shard.epoch, 0)
        published = await shard.publish([state("j1", "queued")])
        assert published == PublishReply(shard.epoch, [1])
        batch = await shard.pull("ing", 0)
        assert isinstance(batch, FeedBatch) and batch.epoch == shard.epoch and not batch.unknown
        # plain tuples inside, not Envelopes: 2-3.5 x cheaper to pickle (bench/records.py)
        ((n, raw),) = batch.items
        assert n == 1 and type(raw) is tuple and Envelope._make(raw).seq == 1
        resumed = await shard.hello("ing", "alice", hello.position)
        assert resumed.resumed and [e.seq for e in resumed.messages] == [1]
        assert resumed.position == StreamPosition(shard.epoch, 1) and resumed.snapshot is None

    asyncio.run(go())


def _shape(function: Any) -> tuple[list[tuple[str, object, object]], object]:
    """Parameters (name, default, annotation text) and return annotation text, without the
    `_ray_trace_ctx` keyword Ray's tracing adds to an actor class's methods."""
    signature = inspect.signature(function)
    params = [(p.name, p.default, p.annotation) for p in signature.parameters.values() if p.name != "_ray_trace_ctx"]
    return params, signature.return_annotation


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [(ShardHandle, (ShardClient, RegistryShard)), (StoreHandle, (StoreClient, JobStore))],
    ids=["shard", "store"],
)
def test_the_ray_clients_and_the_actor_classes_match_the_protocols_call_for_call(
    protocol: type, implementations: tuple[type, ...]
) -> None:
    """mypy checks the callers against the Protocols and the clients' declared types; this checks
    that what the clients declare is what the actor classes behind them take and return (a client
    forwards through Ray untyped)."""
    calls = [n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert len(calls) > 5
    for name in calls:
        for cls in implementations:
            assert _shape(getattr(cls, name)) == _shape(getattr(protocol, name)), f"{cls.__name__}.{name}"
