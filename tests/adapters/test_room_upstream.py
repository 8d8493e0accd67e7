"""A room op whose registry shard does not answer (UpstreamError) is none of a room op's error codes
(PROTOCOL.md section 7: forbidden, not_joined, rate_limited, too_large, bad_frame): the connection is
closed 1012, and the client reconnects and resumes with its rooms in its hello. The app over in-process
shards whose calls are made to fail (tests/adapters/fakes.Remote.fail)."""

from __future__ import annotations

import json
import time

from starlette.testclient import TestClient

from hub.auth import issue_token
from hub.core.closecodes import CloseCode
from tests.adapters.fakes import SECRET, FakeCluster, closed

ROOM = "quiz:upstream"


def room_token(sub: str) -> str:
    return issue_token(SECRET, sub, now=time.time(), rooms=["quiz:*"])


def test_a_room_op_the_shard_does_not_answer_closes_1012(client: tuple[TestClient, FakeCluster]) -> None:
    http, cluster = client
    shard = cluster.shard_for(ROOM)
    with http.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"op": "hello", "token": room_token("uma")}))
        assert json.loads(ws.receive_text())["op"] == "welcome"
        shard.fail("room_join_many")
        ws.send_text(json.dumps({"op": "join", "room": ROOM}))
        message = closed(ws)
        assert message["code"] == CloseCode.SERVICE_RESTART and "reconnect" in message["reason"]
    with http.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"op": "hello", "token": room_token("uma"), "rooms": [{"room": ROOM}]}))
        assert json.loads(ws.receive_text())["rooms"][0]["op"] == "joined"
        shard.fail("room_publish")
        ws.send_text(json.dumps({"op": "publish", "room": ROOM, "event": "x", "data": {}, "id": 1}))
        assert closed(ws)["code"] == CloseCode.SERVICE_RESTART


def test_a_hello_whose_room_shard_does_not_answer_is_refused_1012(client: tuple[TestClient, FakeCluster]) -> None:
    http, cluster = client
    cluster.shard_for(ROOM).fail("room_join_many")
    with http.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"op": "hello", "token": room_token("vic"), "rooms": [{"room": ROOM}]}))
        assert closed(ws)["code"] == CloseCode.SERVICE_RESTART
