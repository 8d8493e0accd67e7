"""The relay (hub/ingress/relay.py) between real registry shards and WebSocket connections: what a
shard's feed brings reaches the right connections, in seq order; a reconnect resumes from the
client's last seq; a shard that restarts or a connection that cannot keep up is told to reconnect
and resume (PROTOCOL.md section 2), and nobody else notices."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.core.sharding import shard_of
from tests.adapters.fakes import FakeCluster, auth, closed, envelopes, hello, make_client, notes, publish


def same_shard_pair() -> tuple[str, str]:
    """Two educators whose streams live on one shard (of two)."""
    first = "alice"
    other = next(f"edu-{i}" for i in range(1000) if shard_of(f"edu-{i}", 2) == shard_of(first, 2))
    return first, other


def other_shard(educator_id: str) -> str:
    return next(f"edu-{i}" for i in range(1000) if shard_of(f"edu-{i}", 2) != shard_of(educator_id, 2))


def test_each_connection_gets_its_educators_messages_in_seq_order_and_no_one_elses(
    client: tuple[TestClient, FakeCluster],
) -> None:
    http, cluster = client
    alice, neighbour = same_shard_pair()
    far = other_shard(alice)
    with (
        http.websocket_connect("/ws") as a1,
        http.websocket_connect("/ws") as a2,
        http.websocket_connect("/ws") as n,
        http.websocket_connect("/ws") as f,
    ):
        seq0 = hello(a1, alice)["seq"]
        assert hello(a2, alice)["seq"] == seq0
        hello(n, neighbour)
        hello(f, far)
        for i, note in enumerate(notes(12)):
            publish(http, cluster, alice, "notification", note)
            if i % 3 == 0:  # interleaved with the neighbour's and the other shard's traffic
                publish(http, cluster, neighbour, "notification", {**note, "title": "not alice's"})
                publish(http, cluster, far, "analytics_update", {"educatorId": far, "updates": {"i": i}})
        for ws in (a1, a2):
            got = envelopes(ws, 12)
            assert [e["seq"] for e in got] == list(range(seq0 + 1, seq0 + 13))
            assert [e["data"]["title"] for e in got] == [f"note {i}" for i in range(12)]
            assert all(e["type"] == "notification" for e in got)
        assert [e["data"]["title"] for e in envelopes(n, 4)] == ["not alice's"] * 4
        assert [e["data"]["updates"]["i"] for e in envelopes(f, 4)] == [0, 3, 6, 9]
        # Nothing else is waiting for anyone: a ping's pong is the next frame on every connection.
        for k, ws in enumerate((a1, a2, n, f)):
            ws.send_text(f'{{"op":"ping","id":{k}}}')
            assert ws.receive_json() == {"op": "pong", "id": k}


def test_a_reconnect_with_the_last_seq_resumes_with_exactly_what_was_missed(
    client: tuple[TestClient, FakeCluster],
) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        welcome = hello(ws, "alice")
        for note in notes(3):
            publish(http, cluster, "alice", "notification", note)
        seen = envelopes(ws, 3)
    last = seen[-1]["seq"]
    for note in notes(4, start=3):  # published while alice is away
        publish(http, cluster, "alice", "notification", note)
    with http.websocket_connect("/ws") as ws:
        again = hello(ws, "alice", resume={"epoch": welcome["epoch"], "seq": last})
        assert again["resumed"] is True and again["epoch"] == welcome["epoch"]
        assert "snapshot" not in again
        missed = envelopes(ws, 4)
        assert [e["seq"] for e in missed] == [last + 1, last + 2, last + 3, last + 4]
        assert [e["data"]["title"] for e in missed] == ["note 3", "note 4", "note 5", "note 6"]
        publish(http, cluster, "alice", "notification", next(notes(1, start=7)))  # and live again
        assert [e["seq"] for e in envelopes(ws, 1)] == [last + 5]


def test_a_message_in_both_the_resume_backlog_and_the_feed_is_delivered_once(
    client: tuple[TestClient, FakeCluster],
) -> None:
    """At least once between shard and ingress, exactly once to a client: a connection that resumes
    while the relay's pull is held back gets the missed messages in its backlog, and the pull then
    brings them again (another connection of alice's watches the stream)."""
    http, cluster = client
    shard = cluster.shard_for("alice")
    with http.websocket_connect("/ws") as watcher:
        welcome = hello(watcher, "alice")
        shard.pause("pull")
        time.sleep(0.7)  # the pull under way returns (poll_timeout 0.5 s); the next one waits
        for note in notes(3):
            publish(http, cluster, "alice", "notification", note)
        with http.websocket_connect("/ws") as late:
            again = hello(late, "alice", resume={"epoch": welcome["epoch"], "seq": welcome["seq"]})
            assert again["resumed"] is True
            assert [e["data"]["title"] for e in envelopes(late, 3)] == ["note 0", "note 1", "note 2"]
            shard.release("pull")
            assert [e["data"]["title"] for e in envelopes(watcher, 3)] == ["note 0", "note 1", "note 2"]
            publish(http, cluster, "alice", "notification", next(notes(1, start=3)))
            (after,) = envelopes(late, 1)  # not a second copy of note 0..2
            assert (after["seq"], after["data"]["title"]) == (welcome["seq"] + 4, "note 3")


def test_a_resume_from_an_epoch_the_stream_no_longer_has_gets_a_fresh_snapshot(
    client: tuple[TestClient, FakeCluster],
) -> None:
    http, _ = client
    with http.websocket_connect("/ws") as ws:
        welcome = hello(ws, "alice", resume={"epoch": "an-old-epoch", "seq": 41})
    assert welcome["resumed"] is False and welcome["snapshot"] == []
    assert welcome["epoch"] != "an-old-epoch"


def test_a_restarted_shard_closes_its_connections_1012_and_they_resume_in_the_new_epoch(
    client: tuple[TestClient, FakeCluster],
) -> None:
    http, cluster = client
    far = other_shard("alice")
    with http.websocket_connect("/ws") as a, http.websocket_connect("/ws") as f:
        old = hello(a, "alice")
        hello(f, far)
        cluster.restart_shard(shard_of("alice", 2))  # Ray restarted its actor: a new epoch, no history
        close = closed(a)
        assert close["code"] == 1012 and "reconnect and resume" in close["reason"]
        # The other shard's connection is untouched and still delivered to.
        publish(http, cluster, far, "notification", next(notes(1)))
        assert envelopes(f, 1)[0]["data"]["title"] == "note 0"
    with http.websocket_connect("/ws") as a:
        fresh = hello(a, "alice", resume={"epoch": old["epoch"], "seq": old["seq"]})
        assert fresh["resumed"] is False and fresh["epoch"] != old["epoch"]
        publish(http, cluster, "alice", "notification", next(notes(1, start=1)))
        assert envelopes(a, 1)[0]["data"]["title"] == "note 1"  # the relay re-attached to the new shard


def test_delivery_goes_on_after_the_shard_fails_to_answer_pulls(client: tuple[TestClient, FakeCluster]) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        hello(ws, "alice")
        cluster.shard_for("alice").fail("pull", times=3)  # UpstreamError, as a shard not answering
        for note in notes(2):
            publish(http, cluster, "alice", "notification", note)
        assert [e["data"]["title"] for e in envelopes(ws, 2)] == ["note 0", "note 1"]
    assert http.get("/healthz").status_code == 200


def test_a_slow_consumer_is_closed_4409_alone_and_told_where_its_stream_is(tmp_path: Path) -> None:
    alice, neighbour = same_shard_pair()
    http, cluster = make_client(tmp_path, send_queue_limit=20, history_max=19)
    with http, http.websocket_connect("/ws") as slow, http.websocket_connect("/ws") as other:
        welcome = hello(slow, alice)
        hello(other, neighbour)

        async def burst() -> None:  # one pull brings them all: more than alice's send queue holds
            shard = cluster.shard_for(alice)
            for note in notes(21):
                await shard.publish_message([alice], "notification", note)
            await shard.publish_message([neighbour], "notification", {"title": "still here", "level": "info"})

        http.portal.call(burst)  # type: ignore[union-attr]
        close = closed(slow)
        assert close["code"] == 4409 and close["reason"] == "slow consumer: reconnect and resume"
        assert envelopes(other, 1)[0]["data"]["title"] == "still here"  # the neighbour is not held up
        with http.websocket_connect("/ws") as again:
            # More was missed than the stream keeps (history_max): a fresh start at the stream's end.
            resumed = hello(again, alice, resume={"epoch": welcome["epoch"], "seq": welcome["seq"]})
            assert resumed["resumed"] is False and resumed["snapshot"] == []
            assert resumed["epoch"] == welcome["epoch"] and resumed["seq"] == welcome["seq"] + 21
        with http.websocket_connect("/ws") as again:  # a resume within the history gets the rest
            resumed = hello(again, alice, resume={"epoch": welcome["epoch"], "seq": welcome["seq"] + 11})
            assert resumed["resumed"] is True
            assert [e["data"]["title"] for e in envelopes(again, 10)] == [f"note {i}" for i in range(11, 21)]


def test_a_long_poll_gets_the_same_envelopes_as_the_websocket(client: tuple[TestClient, FakeCluster]) -> None:
    http, cluster = client
    with http.websocket_connect("/ws") as ws:
        welcome = hello(ws, "alice")
        for note in notes(3):
            publish(http, cluster, "alice", "notification", note)
        over_ws = envelopes(ws, 3)
    poll = http.get(f"/api/events?epoch={welcome['epoch']}&after={welcome['seq']}&timeout=0", headers=auth("alice"))
    assert poll.status_code == 200
    body = poll.json()
    assert body["resumed"] is True and body["epoch"] == welcome["epoch"]
    assert body["messages"] == over_ws


@pytest.mark.parametrize("new_connection", [False, True], ids=["feed-gone", "feed-made-again"])
def test_a_lapsed_ingress_lease_makes_its_clients_resume_and_nothing_is_lost(
    client: tuple[TestClient, FakeCluster], new_connection: bool
) -> None:
    """A shard drops the feed of an ingress that has not pulled for its lease (it looks dead). When
    that ingress pulls again, what the shard published meanwhile never reached it, and a hello may
    already have made it a new feed (numbered from 1 again, watching only the newcomer): its
    clients of that shard are told to reconnect and resume (1012), and the resume brings back
    every message."""
    http, cluster = client
    alice, neighbour = same_shard_pair()
    shard = cluster.shard_for(alice)
    with http.websocket_connect("/ws") as a:
        welcome = hello(a, alice)
        publish(http, cluster, alice, "notification", next(notes(1)))
        assert envelopes(a, 1)[0]["data"]["title"] == "note 0"
        shard.pause("pull")
        time.sleep(0.7)  # the pull under way returns (poll_timeout 0.5 s); the next one waits

        def lapse() -> None:  # the shard's own expiry, as after ShardConfig.ingress_lease of silence
            for feed in shard.target.feeds.values():
                feed.last_pull -= 10_000
            shard.target._expire_feeds()

        http.portal.call(lapse)  # type: ignore[union-attr]
        assert shard.target.feeds == {}
        for note in notes(3, start=1):
            publish(http, cluster, alice, "notification", note)
        with http.websocket_connect("/ws") as n:
            if new_connection:
                hello(n, neighbour)  # the same shard makes this ingress a new feed
            for note in notes(2, start=4):
                publish(http, cluster, alice, "notification", note)
            shard.release("pull")
            close = closed(a)
            assert close["code"] == 1012 and "reconnect and resume" in close["reason"]
    with http.websocket_connect("/ws") as a:
        again = hello(a, alice, resume={"epoch": welcome["epoch"], "seq": welcome["seq"] + 1})
        assert again["resumed"] is True
        assert [e["data"]["title"] for e in envelopes(a, 5)] == [f"note {i}" for i in range(1, 6)]
        publish(http, cluster, alice, "notification", next(notes(1, start=6)))
        assert envelopes(a, 1)[0]["data"]["title"] == "note 6"  # and live delivery goes on
