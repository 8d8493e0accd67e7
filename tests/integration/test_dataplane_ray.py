"""The data plane in the real hub (the session's local Ray and in-process hub): the relay reaches its
registry shards over their sockets, a ShardClient on a real shard actor falls back to Ray calls where
no socket can be made (and says so), and /metrics shows the data plane's state per shard.
tests/adapters/test_dataplane.py pins the sockets themselves without Ray."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx
import pytest
import ray

from actors.handles import ShardClient
from actors.names import shard_name
from hub.core.config import DataPlaneConfig
from hub.core.records import DataPlaneEndpoint
from hub.core.sharding import shard_of
from hub.server import LocalHub
from tests.conftest import free_port, scaled
from tests.integration.conftest import Api, messages_until, open_ws, terminal

pytestmark = pytest.mark.integration


def shard_actor(hub: LocalHub, k: int) -> Any:
    return ray.get_actor(shard_name(k), namespace=hub.settings.namespace)


def test_the_relay_reaches_every_shard_over_the_data_plane(hub: LocalHub) -> None:
    deadline = time.monotonic() + scaled(20)
    for k in range(hub.settings.shards):
        while True:  # the relay's pump pulls each shard without pause: its connection is open
            counters = ray.get(shard_actor(hub, k).dataplane_counters.remote())
            if counters["connections"] >= 1:
                break
            assert time.monotonic() < deadline, f"shard {k}: no data-plane connection: {counters}"
            time.sleep(0.1)
        assert counters["refused"] == 0 and counters["dropped"] == 0
    metrics = httpx.get(hub.url + "/metrics", timeout=scaled(10)).text
    for k in range(hub.settings.shards):
        assert re.search(rf'^hub_dataplane_fallback\{{shard="{k}"\}} 0(\.0)?$', metrics, re.M), metrics
        connects = re.search(rf'^hub_dataplane_connects_total\{{shard="{k}"\}} (\S+)$', metrics, re.M)
        assert connects is not None and float(connects.group(1)) >= 1
        calls = re.search(rf'^hub_dataplane_fallback_calls_total\{{shard="{k}"\}} (\S+)$', metrics, re.M)
        assert calls is not None and float(calls.group(1)) == 0


@pytest.mark.parametrize("tls", ["auto", "always"])
def test_a_shard_client_with_a_blocked_socket_falls_back_to_ray_calls(
    hub: LocalHub, educator: Api, tls: str, caplog: pytest.LogCaptureFixture
) -> None:
    actor = shard_actor(hub, 0)
    ingress = f"test-ingress-{tls}-{time.monotonic_ns()}"
    config = DataPlaneConfig(dataplane_tls=tls)  # type: ignore[arg-type]

    async def go() -> None:
        epoch = await actor.ping.remote()
        blocked = ShardClient(actor, 0, config)
        assert blocked.plane is not None
        endpoint_over_ray = blocked.plane._discover
        asked: list[DataPlaneEndpoint] = []

        async def closed_port() -> DataPlaneEndpoint | None:
            endpoint = await endpoint_over_ray()
            assert endpoint is not None  # the shard serves a data plane
            asked.append(endpoint)
            port = free_port()  # nothing listens there
            return endpoint._replace(port=port, loopback_port=port)

        blocked.plane._discover = closed_port
        assert await blocked.ping() == epoch  # over Ray
        assert blocked.plane.in_fallback and blocked.plane.fallback_calls == 1 and len(asked) == 1
        replies = await blocked.hello_many(ingress, [(educator.educator_id, None)])
        assert replies[0].position.epoch == epoch and not replies[0].resumed and replies[0].snapshot == []
        await blocked.detach(ingress)
        assert blocked.plane.fallback_calls == 3 and len(asked) == 1  # not asked again before the retry time
        assert blocked.plane.connects == 0
        warned = [r for r in caplog.records if r.name == "hub.dataplane" and "no data-plane socket" in r.getMessage()]
        assert len({id(r) for r in warned}) == 1

        # the same shard over its socket
        before = await actor.dataplane_counters.remote()
        direct = ShardClient(actor, 0, config)
        assert direct.plane is not None
        assert await direct.ping() == epoch
        assert direct.plane.connects == 1 and not direct.plane.in_fallback and direct.plane.fallback_calls == 0
        during = await actor.dataplane_counters.remote()
        assert during["connections"] == before["connections"] + 1 and during["refused"] == before["refused"]
        await direct.plane.close()

    caplog.set_level(logging.WARNING, logger="hub.dataplane")
    asyncio.run(asyncio.wait_for(go(), scaled(60)))


def ingress_connects(hub: LocalHub, shard: int) -> float:
    """The data-plane connections the hub's ingress opened to `shard` so far (its /metrics)."""
    metrics = httpx.get(hub.url + "/metrics", timeout=scaled(10)).text
    found = re.search(rf'^hub_dataplane_connects_total\{{shard="{shard}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_restarted_shard_is_found_at_its_new_socket_and_delivery_goes_on(hub: LocalHub, educator: Api) -> None:
    """The shard actor killed (Ray restarts it: a new process, a new socket, new keys): the relay's
    connection breaks, it asks Ray again, reconnects to the new socket (no fallback to Ray calls),
    and a job's updates reach the educator's connection over it."""
    index = shard_of(educator.educator_id, hub.settings.shards)
    actor = shard_actor(hub, index)
    old = ray.get(actor.endpoint.remote())
    assert old is not None
    old_epoch = ray.get(actor.ping.remote())
    relay_connects = ingress_connects(hub, index)
    ray.kill(actor, no_restart=False)
    deadline = time.monotonic() + scaled(60)
    while True:
        try:
            if ray.get(actor.ping.remote(), timeout=scaled(5)) != old_epoch:
                break
        except ray.exceptions.RayError:
            pass  # restarting
        assert time.monotonic() < deadline, "the shard did not come back"
        time.sleep(0.2)
    # The relay reconnected: counted by the ingress itself, since the shard's own count of open
    # connections includes other callers' (a warm job monitor's, actors.pool, opened as it warms up).
    while ingress_connects(hub, index) <= relay_connects:
        assert time.monotonic() < deadline, "the relay did not reconnect over the data plane"
        time.sleep(0.2)
    assert ray.get(actor.dataplane_counters.remote())["connections"] >= 1
    new = ray.get(actor.endpoint.remote())
    assert new is not None and new.cert_pem != old.cert_pem and new.token != old.token

    async def go() -> list[dict[str, Any]]:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        assert welcome["epoch"] != old_epoch
        job_id = await asyncio.to_thread(educator.submit_quiz, n=2)
        envelopes, _ = await messages_until(ws, terminal(job_id))
        await ws.close()
        return envelopes

    envelopes = asyncio.run(go())
    assert envelopes[-1]["data"]["status"] == "completed"
    metrics = httpx.get(hub.url + "/metrics", timeout=scaled(10)).text
    assert re.search(rf'^hub_dataplane_fallback\{{shard="{index}"\}} 0(\.0)?$', metrics, re.M), metrics
    connects = re.search(rf'^hub_dataplane_connects_total\{{shard="{index}"\}} (\S+)$', metrics, re.M)
    assert connects is not None and float(connects.group(1)) >= 2


@pytest.mark.parametrize("path", ["socket", "ray"])
def test_the_room_calls_answer_alike_over_the_socket_and_over_ray(hub: LocalHub, path: str) -> None:
    """Every room method of a real shard actor (PROTOCOL.md section 7) through a ShardClient, over its
    data-plane socket and over Ray calls: the same records back (RoomJoinReply, seqs, members)."""
    room = f"quiz:plane-{path}-{time.monotonic_ns() % 10**8}"
    k = shard_of(room, hub.settings.shards)
    actor = shard_actor(hub, k)
    ingress = f"test-ingress-rooms-{path}-{time.monotonic_ns()}"

    async def go() -> None:
        client = ShardClient(actor, k, DataPlaneConfig() if path == "socket" else None)
        epoch = await client.ping()
        first, second = await client.room_join_many(
            ingress,
            [(room, "s1", "alice", True, {"name": "Alice"}, None), (room, "s2", "bob", False, None, None)],
        )
        assert first.position.epoch.startswith(epoch) and not first.resumed
        assert first.members == [{"educatorId": "alice", "connections": 1, "info": {"name": "Alice"}}]
        assert (first.member_count, second.member_count) == (1, 1)
        seq = await client.room_publish(room, "bob", "s2", "comment", {"text": "hi", "n": 2**70}, False)
        assert seq == first.position.seq + 1
        assert await client.room_publish(room, "bob", "s2", "ping", {}, True) == 0  # ephemeral
        await client.room_typing(room, "alice", "s1", True)
        again = await client.room_join_many(ingress, [(room, "s3", "carol", True, None, first.position)])
        assert again[0].resumed and [e.type for e in again[0].messages] == ["room_message", "presence"]
        assert again[0].messages[0].data["data"]["n"] == 2**70 and again[0].messages[0].room == room
        assert await client.room_members(room) == (
            [
                {"educatorId": "alice", "connections": 1, "info": {"name": "Alice"}},
                {"educatorId": "carol", "connections": 1},
            ],
            2,
        )
        assert await client.attach(ingress, [], [(room, "s1", "alice", True, {"name": "Alice"})]) == epoch
        await client.room_leave_many(ingress, [(room, "s1"), (room, "s2"), (room, "s3")])
        assert await client.room_members(room) == ([], 0)
        await client.detach(ingress)
        if client.plane is not None:
            assert client.plane.fallback_calls == 0 and client.plane.connects == 1
            await client.plane.close()

    asyncio.run(asyncio.wait_for(go(), scaled(60)))
