"""Paging of GET /api/jobs (hub.core.paging, JobStore.list_jobs_page) and the snapshot's truncation flag
(RegistryShard, welcome_frame). No Ray."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from actors.registry import RegistryShard
from actors.store import JobStore
from hub.core.config import ShardConfig
from hub.core.jobstate import JobState
from hub.core.paging import BadCursor, decode_cursor, encode_cursor, next_link
from hub.core.protocol import welcome_frame
from tests.unit.conftest import FakeClock
from tests.unit.test_registry_shard import FakeStore
from tests.unit.test_registry_shard import state as shard_state
from tests.unit.test_store import state


def test_cursor_round_trips_and_is_url_safe() -> None:
    for key in [(1700000000.123456, "abc"), (0.0, ""), (1e-9, "ü/+=?&"), (3.0, "x" * 64)]:
        cursor = encode_cursor(*key)
        assert decode_cursor(cursor) == key
        assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "!!!",
        base64.urlsafe_b64encode(b"[1.0]").decode(),
        base64.urlsafe_b64encode(b'{"a":1}').decode(),
        base64.urlsafe_b64encode(b'["1.0","j"]').decode(),
        base64.urlsafe_b64encode(b'[true,"j"]').decode(),
        base64.urlsafe_b64encode(b'[NaN,"j"]').decode(),
        base64.urlsafe_b64encode(b'[1e999,"j"]').decode(),
        base64.urlsafe_b64encode(b"[1.0,2]").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_the_hub_did_not_make_is_refused_with_a_reason(cursor: str) -> None:
    with pytest.raises(BadCursor) as refused:
        decode_cursor(cursor)
    assert refused.value.http_status == 422 and "cursor" in refused.value.message


def test_next_link_is_rfc_8288() -> None:
    cursor = encode_cursor(5.5, "j1")
    assert next_link("/api/jobs", 50, cursor) == f'</api/jobs?limit=50&cursor={cursor}>; rel="next"'


def pages(store: JobStore, educator: str, limit: int) -> list[list[str]]:
    """Every page, as the API walks them (one row more than the page tells whether there is a next)."""
    out: list[list[str]] = []
    before = None
    while True:
        rows = store.list_jobs_page(educator, limit + 1, before)
        page = rows[:limit]
        out.append([r.job_id for r in page])
        if len(rows) <= limit:
            return out
        before = decode_cursor(encode_cursor(page[-1].created_at, page[-1].job_id))


def test_store_pages_hold_every_job_once_newest_first_ties_included(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    # 1,234 jobs: more than a shard holds (500); many share a createdAt (same clock tick)
    ids = [f"j{i:04d}" for i in range(1234)]
    for i, job in enumerate(ids):
        store.save(state(job, "completed", created=1000.0 + i // 7))
    store.save(state("other", "queued", educator="bob", created=5000.0))
    expected = sorted(ids, key=lambda j: (1000.0 + int(j[1:]) // 7, j), reverse=True)
    for limit in (1, 100, 500, 1234, 2000):
        walked = pages(store, "alice", limit)
        assert [j for p in walked for j in p] == expected
        assert all(len(p) == limit for p in walked[:-1])
    assert store.list_jobs("alice", 3) == store.list_jobs_page("alice", 3)
    assert [j.job_id for j in store.list_jobs_page("bob", 10)] == ["other"]


def test_jobs_added_while_paging_neither_repeat_nor_hide_older_ones(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path / "jobs.db", clock)
    for i in range(10):
        store.save(state(f"old{i}", "completed", created=100.0 + i))
    first = store.list_jobs_page("alice", 4)
    for i in range(5):  # newer jobs arrive between the pages
        store.save(state(f"new{i}", "queued", created=500.0 + i))
    rest = store.list_jobs_page("alice", 100, (first[-1].created_at, first[-1].job_id))
    assert [j.job_id for j in first + rest] == [f"old{i}" for i in range(9, -1, -1)]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_snapshot_says_when_it_holds_fewer_than_all(clock: FakeClock) -> None:
    async def go() -> None:
        many = FakeStore([shard_state(f"s{i}", "completed", 100, createdAt=float(i)) for i in range(5, 0, -1)])
        s = RegistryShard(0, ShardConfig(jobs_per_educator=4), clock, store=many)
        reply = await s.hello("ing", "alice", None)
        assert [j["jobId"] for j in reply.snapshot] == ["s5", "s4", "s3", "s2"]
        assert reply.snapshot_truncated is True

        exactly = FakeStore([shard_state(f"s{i}", "completed", 100) for i in range(4)])
        s = RegistryShard(0, ShardConfig(jobs_per_educator=4), clock, store=exactly)
        assert (await s.hello("ing", "alice", None)).snapshot_truncated is False

        # jobs pushed out of the shard by newer ones: the snapshot is short of them
        s = RegistryShard(0, ShardConfig(jobs_per_educator=3), clock)
        for i in range(3):
            await s.publish([shard_state(f"j{i}", "queued"), shard_state(f"j{i}", "failed", error="x")])
        assert (await s.hello("ing", "alice", None)).snapshot_truncated is False
        await s.publish([shard_state("j3", "queued")])
        reply = await s.hello("ing", "alice", None)
        assert len(reply.snapshot) == 3 and reply.snapshot_truncated is True
        assert (await s.hello("ing", "bob", None)).snapshot_truncated is False

    run(go())


def test_shard_states_give_live_figures_for_the_jobs_it_holds(clock: FakeClock) -> None:
    async def go() -> None:
        s = RegistryShard(0, ShardConfig(), clock)
        await s.publish([shard_state("run", "queued"), shard_state("run", "processing", 42)])
        live = await s.states(["run", "unknown"])
        assert live[0] is not None and live[0].progress == 42 and live[1] is None

    run(go())


def test_welcome_carries_snapshot_truncated_only_when_true() -> None:
    common: dict[str, Any] = {"session": "s", "educator_id": "e", "epoch": "E", "seq": 3, "heartbeat": 20.0}
    plain = json.loads(welcome_frame(**common, resumed=False, snapshot=[]))
    assert "snapshotTruncated" not in plain
    cut = json.loads(welcome_frame(**common, resumed=False, snapshot=[], snapshot_truncated=True))
    assert cut["snapshotTruncated"] is True
    resumed = json.loads(welcome_frame(**common, resumed=True, snapshot=None, snapshot_truncated=True))
    assert "snapshotTruncated" not in resumed and "snapshot" not in resumed


class _Store:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [JobState.model_validate(r) for r in rows]

    async def list_jobs_page(
        self, educator_id: str, limit: int, before: tuple[float, str] | None = None
    ) -> list[JobState]:
        keyed = [r for r in self.rows if before is None or (r.created_at, r.job_id) < before]
        return keyed[:limit]


class _Shard:
    def __init__(self, live: dict[str, dict[str, Any]]) -> None:
        self.live = {j: JobState.model_validate(r) for j, r in live.items()}

    async def states(self, job_ids: list[str]) -> list[JobState | None]:
        return [self.live.get(j) for j in job_ids]


class _Cluster:
    def __init__(self, store: _Store, shard: _Shard) -> None:
        self.store, self.shard, self.shards = store, shard, [shard]

    def shard_for(self, educator_id: str) -> _Shard:
        return self.shard


def test_desk_pages_come_from_the_store_with_the_shards_live_states(clock: FakeClock) -> None:
    from hub.auth import Identity
    from hub.ingress.desk import JobDesk
    from hub.metrics import IngressMetrics

    rows = [state(f"j{i}", "completed", created=float(100 - i)) for i in range(5)]
    rows[1] = state("j1", "processing", created=99.0, progress=10)  # the store's figure: stale
    live = {"j1": state("j1", "processing", created=99.0, progress=70)}
    desk = JobDesk(_Cluster(_Store(rows), _Shard(live)), IngressMetrics())  # type: ignore[arg-type]
    who = Identity(sub="alice", role="educator")

    async def go() -> None:
        page, after = await desk.jobs_page(who, 2, None)
        assert [j.job_id for j in page] == ["j0", "j1"] and page[1].progress == 70
        assert after == (99.0, "j1")
        page, after = await desk.jobs_page(who, 3, after)
        assert [j.job_id for j in page] == ["j2", "j3", "j4"] and after is None
        assert await desk.jobs_page(who, 3, (0.0, "")) == ([], None)

    run(go())


@pytest.mark.parametrize("raw", [b"[1" + b"0" * 320 + b',"x"]', b"[-1" + b"0" * 320 + b',"x"]', b'[1,"\\ud83d"]'])
def test_a_forged_cursor_past_a_double_or_with_a_lone_surrogate_is_bad(raw: bytes) -> None:
    """Once a 500 (OverflowError) and a 503 (the store could not encode the key): a bad cursor, 422."""
    with pytest.raises(BadCursor):
        decode_cursor(base64.urlsafe_b64encode(raw).decode().rstrip("="))
