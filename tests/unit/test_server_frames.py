"""The typed records a client reads the hub's frames with (hub.core.protocol: Welcome, Batch, Pong,
ErrorFrame, Refreshed, EventsReply): they parse exactly what the server's builders make (welcome_frame,
batch_frame + envelope_json, pong_frame, error_frame, refreshed_frame), so both sides stay in step; they
keep fields a newer hub adds and ignore ops they do not know (PROTOCOL.md: the contract changes only by
adding); a malformed frame is a MalformedFrame naming the op and field. And the Python client
(hub.client.HubClient) reads every frame through them: its resume point is a StreamPosition, its callbacks
still receive the frames' JSON objects, and no frame, however malformed, raises out of its read loop."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.client import HubClient
from hub.core.protocol import (
    Ack,
    Batch,
    ErrorFrame,
    EventsReply,
    Joined,
    Left,
    MalformedFrame,
    Member,
    Pong,
    Refreshed,
    Welcome,
    WireEnvelope,
    batch_frame,
    envelope_json,
    error_frame,
    parse_events_reply,
    pong_frame,
    read_server_frame,
    refreshed_frame,
    welcome_frame,
)
from hub.core.records import StreamPosition
from hub.core.stream import Envelope

JOB = {"jobId": "j-1", "kind": "quiz_generation", "educatorId": "ed-1", "status": "queued", "progress": 0}


def welcome(**over: Any) -> str:
    args: dict[str, Any] = dict(
        session="s-1", educator_id="ed-1", epoch="E1", seq=7, heartbeat=20.0, resumed=False, snapshot=[JOB]
    )
    return welcome_frame(**(args | over))


def batch(*seqs: int, **data: Any) -> str:
    return batch_frame([envelope_json(s, "quiz_status", 1764094212.5, {"jobId": "j-1", **data}) for s in seqs])


# -- the models parse what the server builds --------------------------------------------------------


def test_welcome_frame_round_trip() -> None:
    frame, wire = read_server_frame(welcome(snapshot_truncated=True))
    assert frame == Welcome(
        op="welcome",
        session="s-1",
        educator_id="ed-1",
        epoch="E1",
        seq=7,
        heartbeat=20.0,
        resumed=False,
        snapshot=[JOB],
        snapshot_truncated=True,
    )
    assert wire == json.loads(welcome(snapshot_truncated=True))
    resumed, _ = read_server_frame(welcome(resumed=True, snapshot=None))
    assert isinstance(resumed, Welcome) and resumed.resumed and resumed.snapshot is None


def test_batch_frame_round_trip_from_the_envelopes_the_server_sends() -> None:
    envs = [
        Envelope("ed-1", 3, "quiz_status", 1.25, {"jobId": "j-1", "progress": 40}),
        Envelope("ed-1", 5, "x", 2.0, {}),
    ]
    text = batch_frame([json.dumps(e.wire()) for e in envs[:1]] + [envelope_json(5, "x", 2.0, {}, data_json="{}")], 2)
    frame, wire = read_server_frame(text)
    assert isinstance(frame, Batch) and frame.skipped == 2
    assert [(m.seq, m.type, m.ts, m.data, m.room) for m in frame.messages] == [
        (3, "quiz_status", 1.25, {"jobId": "j-1", "progress": 40}, None),
        (5, "x", 2.0, {}, None),
    ]
    assert wire["messages"] == [e.wire() for e in envs]
    plain, _ = read_server_frame(batch_frame([]))
    assert plain == Batch(op="batch", messages=[], skipped=0)


def test_pong_error_and_refreshed_round_trip() -> None:
    assert read_server_frame(pong_frame({"n": [1, 2]})).frame == Pong(op="pong", id={"n": [1, 2]})
    assert read_server_frame(pong_frame(None)).frame == Pong(op="pong", id=None)
    assert read_server_frame(error_frame("bad_frame", "ping: id: bad", ref="ping")).frame == ErrorFrame(
        op="error", code="bad_frame", message="ping: id: bad", ref="ping"
    )
    assert read_server_frame(error_frame("internal", "no ref")).frame == ErrorFrame(
        op="error", code="internal", message="no ref"
    )
    assert read_server_frame(refreshed_frame(1764094999)).frame == Refreshed(op="refreshed", exp=1764094999)


def test_events_reply_parses_what_a_long_poll_answers() -> None:
    fresh = parse_events_reply({"epoch": "E1", "seq": 4, "resumed": False, "snapshot": [JOB], "messages": []})
    assert fresh == EventsReply(epoch="E1", seq=4, resumed=False, snapshot=[JOB])
    more = parse_events_reply(
        {"epoch": "E1", "seq": 6, "resumed": True, "messages": json.loads(batch(5, 6))["messages"]}
    )
    assert [m.seq for m in more.messages] == [5, 6]
    with pytest.raises(MalformedFrame, match="events: seq"):
        parse_events_reply({"epoch": "E1", "seq": "6", "resumed": True, "messages": []})


# -- forward compatibility: what a newer hub may add ---------------------------------------------------


def test_fields_a_newer_hub_adds_are_kept_not_refused() -> None:
    text = json.dumps(
        {
            "op": "batch",
            "messages": [{"seq": 1, "type": "quiz_status", "ts": 1.0, "data": {}, "trace": "t-9"}],
            "compressed": False,
        }
    )
    frame, wire = read_server_frame(text)
    assert isinstance(frame, Batch) and frame.model_extra == {"compressed": False}
    assert frame.messages[0].model_extra == {"trace": "t-9"} and wire == json.loads(text)
    newer, _ = read_server_frame(welcome().replace('"op":"welcome"', '"op":"welcome","region":"eu"'))
    assert isinstance(newer, Welcome) and newer.model_extra == {"region": "eu"}


def test_room_and_ephemeral_envelopes_read_as_such() -> None:
    frame = WireEnvelope.model_validate({"type": "typing", "ts": 1.0, "room": "quiz:q-1", "data": {"typing": True}})
    assert frame.seq is None and frame.room == "quiz:q-1"


# -- rooms (PROTOCOL.md section 7; the shapes of /work/wt/ROOMS_WIRE.md) -----------------------------------

JOINED = {
    "op": "joined",
    "room": "quiz:q-42",
    "epoch": "ab12",
    "seq": 7,
    "resumed": False,
    "members": [
        {"educatorId": "alice", "connections": 2, "info": {"name": "Alice", "avatar": "a.png"}},
        {"educatorId": "bob", "connections": 1},
    ],
    "memberCount": 2,
}


def test_joined_left_and_ack_read_as_their_records() -> None:
    frame, wire = read_server_frame(json.dumps(JOINED))
    assert frame == Joined(
        op="joined",
        room="quiz:q-42",
        epoch="ab12",
        seq=7,
        resumed=False,
        members=[
            Member(educator_id="alice", connections=2, info={"name": "Alice", "avatar": "a.png"}),
            Member(educator_id="bob", connections=1),
        ],
        member_count=2,
    )
    assert wire == JOINED
    assert read_server_frame('{"op":"left","room":"quiz:q-42"}').frame == Left(op="left", room="quiz:q-42")
    kept = read_server_frame('{"op":"ack","id":{"n":3},"room":"quiz:q-42","seq":8}').frame
    assert kept == Ack(op="ack", id={"n": 3}, room="quiz:q-42", seq=8)
    ephemeral = read_server_frame('{"op":"ack","id":"p-1","room":"quiz:q-42"}').frame
    assert isinstance(ephemeral, Ack) and ephemeral.seq is None and ephemeral.id == "p-1"


def test_room_errors_and_the_rooms_of_welcome_and_a_poll() -> None:
    refused = {"op": "error", "code": "forbidden", "message": "You may not join quiz:q-9.", "ref": "join"}
    frame = read_server_frame(json.dumps({**refused, "room": "quiz:q-9"})).frame
    assert frame == ErrorFrame(op="error", code="forbidden", message=refused["message"], ref="join", room="quiz:q-9")
    plain = read_server_frame(error_frame("bad_frame", "publish: room: wrong type", ref="publish")).frame
    assert isinstance(plain, ErrorFrame) and plain.room is None
    entries = [JOINED, {**refused, "room": "quiz:q-9"}]
    text = welcome(resumed=True, snapshot=None).replace(
        '"op":"welcome"', '"op":"welcome","rooms":' + json.dumps(entries)
    )
    welcomed = read_server_frame(text).frame
    assert isinstance(welcomed, Welcome) and welcomed.rooms == entries
    assert read_server_frame(welcome()).frame.rooms is None  # type: ignore[union-attr]
    poll = parse_events_reply(
        {"epoch": "E1", "seq": 4, "resumed": True, "messages": [], "rooms": [{**JOINED, "resumed": True}]}
    )
    assert poll.rooms == [{**JOINED, "resumed": True}]
    assert parse_events_reply({"epoch": "E1", "seq": 4, "resumed": True}).rooms is None


def test_room_envelopes_kept_and_ephemeral_in_a_mixed_batch() -> None:
    own = {"seq": 9, "type": "quiz_status", "ts": 1.0, "data": {"jobId": "j-1"}}
    message = {
        "seq": 8,
        "type": "room_message",
        "ts": 2.0,
        "data": {"event": "comment", "data": {"text": "hi"}, "from": {"educatorId": "bob", "session": "s-2"}},
        "room": "quiz:q-42",
    }
    presence = {
        "seq": 9,
        "type": "presence",
        "ts": 2.5,
        "data": {"action": "join", "member": {"educatorId": "carol"}, "memberCount": 3},
        "room": "quiz:q-42",
    }
    typing = {"type": "typing", "ts": 3.0, "data": {"educatorId": "bob", "typing": True}, "room": "quiz:q-42"}
    frame, wire = read_server_frame(json.dumps({"op": "batch", "messages": [own, message, presence, typing]}))
    assert isinstance(frame, Batch)
    assert [(m.seq, m.type, m.room) for m in frame.messages] == [
        (9, "quiz_status", None),
        (8, "room_message", "quiz:q-42"),
        (9, "presence", "quiz:q-42"),
        (None, "typing", "quiz:q-42"),
    ]
    assert wire["messages"][3] == typing and "seq" not in wire["messages"][3]


@pytest.mark.parametrize("op", ["whisper", "presence_v9", "rejoined", ""])
def test_an_op_this_version_does_not_know_reads_as_none(op: str) -> None:
    frame, wire = read_server_frame(json.dumps({"op": op, "room": "r"}))
    assert frame is None and wire["op"] == op
    assert read_server_frame(json.dumps({"noop": 1})).frame is None
    assert read_server_frame(json.dumps({"op": ["batch"]})).frame is None


# -- malformed frames ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        ('"welcome"', "a JSON str, not an object"),
        ('{"op": "welcome", "session": "s"}', "welcome: epoch: Field required"),
        ('{"op": "welcome", "session": "s", "epoch": "E", "seq": -1, "resumed": false}', "welcome: seq"),
        ('{"op": "welcome", "session": "s", "epoch": "E", "seq": 1, "resumed": "no"}', "welcome: resumed"),
        ('{"op": "welcome", "session": "s", "epoch": "E", "seq": 1, "resumed": false, "heartbeat": 0}', "heartbeat"),
        ('{"op": "welcome", "session": "s", "epoch": "E", "seq": 1, "resumed": false, "snapshot": [{}]}', "jobId"),
        ('{"op": "batch"}', "batch: messages: Field required"),
        ('{"op": "batch", "messages": {}}', "batch: messages"),
        ('{"op": "batch", "messages": [{"seq": "5", "type": "x", "ts": 1}]}', "batch: messages.0.seq"),
        ('{"op": "batch", "messages": [{"seq": 5, "ts": 1}]}', "batch: messages.0.type"),
        ('{"op": "batch", "messages": [{"seq": 5, "type": "x", "ts": 1, "data": []}]}', "batch: messages.0.data"),
        ('{"op": "batch", "messages": [], "skipped": -1}', "batch: skipped"),
        ('{"op": "error", "code": 4400}', "error: code"),
        ('{"op": "refreshed"}', "refreshed: exp"),
        ('{"op": "joined", "room": "r"}', "joined: epoch: Field required"),
        ('{"op": "joined", "room": "r", "epoch": "E", "seq": 1, "resumed": true, "memberCount": 0}', "joined: members"),
        (
            '{"op": "joined", "room": "r", "epoch": "E", "seq": 1, "resumed": true, "members": [{}], "memberCount": 0}',
            "joined: members.0.educatorId",
        ),
        (
            '{"op": "joined", "room": "r", "epoch": "E", "seq": 1, "resumed": true, "members": [], "memberCount": "1"}',
            "joined: memberCount",
        ),
        ('{"op": "left"}', "left: room: Field required"),
        ('{"op": "ack", "id": 1, "room": "r", "seq": -1}', "ack: seq"),
        ('{"op": "ack", "id": 1}', "ack: room"),
        ('{"op": "error", "code": "forbidden", "message": "m", "room": 5}', "error: room"),
        ('{"op": "welcome", "session": "s", "epoch": "E", "seq": 1, "resumed": true, "rooms": {}}', "welcome: rooms"),
    ],
)
def test_a_malformed_frame_is_a_malformed_frame_error_saying_where(text: str | bytes, says: str) -> None:
    with pytest.raises(MalformedFrame, match=says):
        read_server_frame(text)


# -- the client reads through them ----------------------------------------------------------------------


def client_with_handlers() -> tuple[HubClient, dict[str, list[Any]]]:
    client = HubClient("http://127.0.0.1:1", "a-token")
    seen: dict[str, list[Any]] = {}
    for event in ("*", "welcome", "snapshot", "error", "pong", "state"):
        client.on(event, seen.setdefault(event, []).append)
    return client, seen


def test_the_client_keeps_a_stream_position_and_hands_callbacks_the_frames_json() -> None:
    client, seen = client_with_handlers()
    assert client.position is None and client.epoch is None and client.seq == 0
    client._receive(welcome())
    assert client.position == StreamPosition("E1", 7) and (client.epoch, client.seq) == ("E1", 7)
    assert seen["welcome"] == [json.loads(welcome())] and seen["snapshot"] == seen["welcome"]
    assert client.state == "connected" and client.session == "s-1" and client.heartbeat == 20.0
    assert client.jobs == {"j-1": JOB}
    client._receive(batch(6, 7, 8, progress=50))  # 6 and 7 were seen (at least once): dropped
    assert client.position == StreamPosition("E1", 8)
    assert seen["*"] == json.loads(batch(8, progress=50))["messages"]
    assert client.jobs["j-1"] == {**JOB, "progress": 50}
    client._receive(pong_frame(3))
    client._receive(error_frame("bad_frame", "cancel: jobId: too long", ref="cancel"))
    assert seen["pong"] == [{"op": "pong", "id": 3}]
    assert seen["error"] == [
        {"op": "error", "code": "bad_frame", "message": "cancel: jobId: too long", "ref": "cancel"}
    ]
    client._receive(welcome(resumed=True, snapshot=None, seq=99, session="s-2"))  # resumed: keeps its place
    assert client.position == StreamPosition("E1", 8) and client.connects == 2
    client._receive(welcome(epoch="E2", seq=2, snapshot=[]))  # not resumed: the new epoch's position
    assert client.position == StreamPosition("E2", 2) and client.jobs == {}


def test_room_and_ephemeral_envelopes_leave_the_position_alone() -> None:
    client, seen = client_with_handlers()
    client._receive(welcome())
    room = {"seq": 1, "type": "room_message", "ts": 1.0, "data": {}, "room": "quiz:q-1"}
    typing = {"type": "typing", "ts": 1.0, "data": {"typing": True}, "room": "quiz:q-1"}
    client._receive(json.dumps({"op": "batch", "messages": [room, typing]}))
    assert client.position == StreamPosition("E1", 7) and seen["*"] == [room, typing]


def test_a_malformed_frame_is_logged_and_skipped_and_the_next_one_read(caplog: pytest.LogCaptureFixture) -> None:
    client, seen = client_with_handlers()
    client._receive(welcome())
    with caplog.at_level(logging.DEBUG, logger="hub.client"):
        for text in ("{", "[]", '{"op": "batch", "messages": [{"seq": "8"}]}', '{"op": "whisper", "room": "r"}'):
            client._receive(text)
    warned = [r.getMessage() for r in caplog.records if r.name == "hub.client" and r.levelno == logging.WARNING]
    assert len(warned) == 3 and all("malformed frame from the hub" in m for m in warned)
    assert "batch: messages.0.seq" in warned[2]
    assert client.position == StreamPosition("E1", 7) and client.state == "connected" and not seen["*"]
    client._receive(batch(8))
    assert client.position == StreamPosition("E1", 8) and len(seen["*"]) == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)
FIELDS = st.sampled_from(["op", "seq", "type", "ts", "data", "messages", "epoch", "session", "resumed", "snapshot"])
OPS = st.sampled_from(["welcome", "batch", "pong", "error", "refreshed", "joined"])


@settings(max_examples=300, deadline=None)
@given(
    op=OPS,
    fields=st.dictionaries(FIELDS, JSON, max_size=6),
    envelopes=st.lists(st.dictionaries(FIELDS, JSON, max_size=5), max_size=3),
)
def test_no_frame_raises_out_of_the_clients_read_loop(op: str, fields: dict[str, Any], envelopes: list[Any]) -> None:
    client, _ = client_with_handlers()
    client._receive(welcome())
    client._receive(json.dumps({"op": op, "messages": envelopes, **fields}))  # never raises
    assert client.position is not None
