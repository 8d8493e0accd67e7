"""The data plane on the session's real Ray and hub (issue 15, item 6): the ingress reads its shards
over their sockets; a socket closed mid-stream reconnects through Ray and the stream goes on with
nothing lost and nothing twice; a restarted shard (a new process, new ports, new keys) is found
again through Ray and read over its socket again."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import ray

from actors.names import shard_name
from hub.core.sharding import shard_of
from hub.server import LocalHub
from tests.conftest import scaled, until
from tests.integration.conftest import Api, messages_until, open_ws, terminal
from tests.integration.test_faults import slow_registered, submit  # noqa: F401 (a fixture)


def _relay(hub: LocalHub) -> Any:
    return hub.app.state.relay


def _on_hub_loop(hub: LocalHub, coro: Any, timeout: float = 10.0) -> Any:
    """Run `coro` on the ingress's event loop (the relay's) and return its result."""
    loop = _relay(hub)._tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(scaled(timeout))


def test_the_ingress_reads_every_shard_over_its_socket(hub: LocalHub, educator: Api) -> None:
    relay = _relay(hub)
    for k, shard in enumerate(relay.shards):
        assert shard.plane is not None, "the hub runs with the data plane on by default"
        until_sync(lambda s=shard: s.plane.connects >= 1, f"shard {k}'s socket opened")
        assert not shard.plane.in_fallback
        counters = ray.get(ray.get_actor(shard_name(k), namespace=hub.settings.namespace).dataplane_counters.remote())
        assert counters["connections"] >= 1 and counters["refused"] == 0 and counters["dropped"] == 0
    metrics = educator.http.get("/metrics").text
    for k in range(len(relay.shards)):
        assert f'hub_dataplane_fallback{{shard="{k}"}} 0.0' in metrics
        assert f'hub_dataplane_connects_total{{shard="{k}"}}' in metrics


def until_sync(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_socket_closed_mid_stream_reconnects_and_loses_nothing(
    hub: LocalHub,
    educator: Api,
    slow_registered: None,  # noqa: F811
) -> None:
    index = shard_of(educator.educator_id, hub.settings.shards)
    plane = _relay(hub).shards[index].plane
    before = plane.connects

    async def go() -> tuple[list[dict[str, Any]], int]:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(submit, educator, 60, 0.05)  # about 3 s of ticks
        collected: list[dict[str, Any]] = []

        async def breaker() -> int:
            closed = 0
            for _ in range(4):  # close the ingress's socket to the shard while the job streams
                await asyncio.sleep(scaled(0.4))
                await asyncio.to_thread(_on_hub_loop, hub, plane.close())
                closed += 1
            return closed

        breaking = asyncio.ensure_future(breaker())
        envelopes, _ = await messages_until(ws, terminal(job_id), 60)
        collected += envelopes
        closed = await breaking
        await ws.close()
        return [e for e in collected if e["data"].get("jobId") == job_id], closed

    mine, closed = asyncio.run(go())
    assert closed == 4
    seqs = [e["seq"] for e in mine]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"a gap or a repeat in {seqs}"
    statuses = [e["data"]["status"] for e in mine]
    assert statuses[0] == "queued" and statuses[-1] == "completed", statuses
    until_sync(lambda: plane.connects >= before + 4, "each closed socket opened again")
    assert not plane.in_fallback


def test_a_restarted_shard_is_found_again_through_ray_and_read_over_its_socket(
    hub: LocalHub,
    educator: Api,
    slow_registered: None,  # noqa: F811
) -> None:
    index = shard_of(educator.educator_id, hub.settings.shards)
    actor = ray.get_actor(shard_name(index), namespace=hub.settings.namespace)
    plane = _relay(hub).shards[index].plane
    old = ray.get(actor.endpoint.remote())
    before = plane.connects

    async def go() -> list[dict[str, Any]]:
        ws, welcome = await open_ws(hub, {"token": educator.token})
        ray.kill(actor, no_restart=False)
        # The ingress closes this client 1012 (its shard restarted); a new connection resyncs.
        await until(lambda: plane.connects > before, 60, "the socket to the restarted shard")
        frames: list[dict[str, Any]] = []
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), scaled(30))))
        except Exception:
            pass
        ws2, welcome2 = await open_ws(hub, {"token": educator.token})
        job_id = await asyncio.to_thread(submit, educator, 5, 0.02)
        envelopes, _ = await messages_until(ws2, terminal(job_id), 60)
        await ws2.close()
        assert welcome2["epoch"] != welcome["epoch"], "a restarted shard starts a new epoch"
        return envelopes

    envelopes = asyncio.run(go())
    assert envelopes[-1]["data"]["status"] == "completed"
    new = ray.get(actor.endpoint.remote())
    assert (new.port, new.loopback_port, new.cert_pem) != (old.port, old.loopback_port, old.cert_pem)
    assert not plane.in_fallback
