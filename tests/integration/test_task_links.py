"""Task links end to end (issue 15 item 3): a job's Ray task reports through the link its monitor
made, over the monitor's socket (plain on its node's loopback, TLS from elsewhere), else by actor
calls; the socket refuses a peer without a token the monitor signed or naming a link it did not
make, and drops what is not a link frame without stopping the job. What the task saw comes back as
the job's result; what the monitor took shows in the progress messages the educator receives."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import pytest
import ray

from hub.server import LocalHub
from jobs import connect
from jobs.kinds import Params
from jobs.tasklink import TaskLink
from tests.integration.conftest import Api
from tests.integration.test_kinds import run_job, statuses


class ProbeParams(Params):
    mode: str = "ok"  # ok | tls | wrong_token | no_port | abuse | break
    ticks: int = 5


@ray.remote(num_cpus=0, max_retries=0)
def probe_task(link: TaskLink, ticks: int, abuse: bool, break_after: int | None = None) -> dict[str, Any]:
    """Reports `ticks` progress calls 80 ms apart (past the monitor's pacing: none is coalesced);
    with `abuse`, first tries the monitor's socket the wrong ways and says what each got; with
    `break_after`, sends an item over the frame limit after that many ticks (the monitor closes the
    socket, 1009) and goes on."""
    import msgpack
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect as ws_connect

    tried: dict[str, Any] = {}
    if abuse and link.endpoint is not None:
        url = f"ws://127.0.0.1:{link.endpoint.loopback_port}"
        auth = {"Authorization": f"Bearer {link.endpoint.token}"}
        for name, path, headers in [
            ("no_token", f"/{link.channel}", {}),
            ("wrong_token", f"/{link.channel}", {"Authorization": "Bearer not.a.jwt"}),
            ("unknown_link", "/999", auth),
        ]:
            try:
                ws_connect(url + path, additional_headers=headers).close()
                tried[name] = "accepted"
            except InvalidStatus as exc:
                tried[name] = exc.response.status_code
        with ws_connect(f"{url}/{link.channel}", additional_headers=auth) as ws:
            ws.send("[1, [50, 'a text frame']]")
            ws.send(b"\xc1 not msgpack")
            ws.send(msgpack.packb({"not": "a pair"}))
            ws.send(msgpack.packb([link.channel + 1, [50, "for another link"]]))
            ws.send(msgpack.packb([link.channel, ["not a percent", "x"]]))
        with ws_connect(f"{url}/{link.channel}", additional_headers=auth, max_size=None) as ws:
            ws.send(msgpack.packb([link.channel, [50, "x" * (2 << 20)]]))  # over task_link_max_frame
            try:
                ws.recv(timeout=5)
            except ConnectionClosed as exc:
                tried["oversized"] = exc.rcvd.code if exc.rcvd else None
    with link.open() as report:
        socket = report.transport
        for i in range(ticks):
            if i == break_after:
                report.send([50, "x" * (2 << 20)])  # the monitor closes this connection: 1009
                time.sleep(0.5)  # the close reaches this side
            report.progress(10 + i, f"Tick {i + 1} of {ticks}")
            time.sleep(0.08)
        after = report.transport
    return {"socket": socket, "after": after, "tried": tried, "fallback": report.fallback}


async def probe_kind(ctx: Any, params: ProbeParams) -> dict[str, Any]:
    received: list[str] = []

    def on_item(item: Any) -> None:  # a progress call, and what the monitor got, in order
        ctx.progress(float(item[0]), item[1])
        received.append(item[1])

    link = await ctx.link(on_item)
    endpoint = link.endpoint
    if params.mode == "tls":  # as from another node: TLS to the node address, the pinned certificate
        link = dataclasses.replace(link, tls_always=True)
    elif params.mode == "wrong_token":  # a well-formed token, signed by another key
        import jwt

        claims = {"sub": "task link", "aud": "hub-dataplane", "exp": int(time.time()) + 60}
        forged = jwt.encode(claims, "not-the-monitors-key-" + "x" * 32, "HS256")
        link = dataclasses.replace(link, endpoint=endpoint._replace(token=forged))
    elif params.mode == "no_port":  # nothing listens there: connection refused
        link = dataclasses.replace(link, endpoint=endpoint._replace(loopback_port=1, port=1))
    if params.mode in ("ok", "tls", "abuse", "break"):  # a loaded CI machine may take over 3 s to connect
        link = dataclasses.replace(link, connect_timeout=30.0)
    broken = 2 if params.mode == "break" else None
    result = await ctx.track(probe_task.remote(link, params.ticks, params.mode == "abuse", broken))
    await ctx.drained(link)
    return {**result, "received": received}


@pytest.fixture(scope="module")
def probe_registered(hub: LocalHub) -> None:
    nb = connect(hub.url, hub.token("link-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("link_probe", probe_kind, ProbeParams)
    nb.close()


def ticks_seen(msgs: list[dict[str, Any]]) -> list[int]:
    return [int(m[1]) for m in (re.fullmatch(r"Tick (\d+) of \d+", x["data"]["message"]) for x in msgs) if m]


def check_ticks(educator: Api, msgs: list[dict[str, Any]], ticks: int) -> dict[str, Any]:
    """The monitor got every tick, in order, and the educator saw them rise to the last (ticks that
    reach the monitor together may be coalesced before they are published); returns the result."""
    assert statuses(msgs)[-1] == "completed"
    seen = ticks_seen(msgs)
    assert seen == sorted(set(seen)) and seen[-1] == ticks, seen
    result: dict[str, Any] = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
    assert result["received"] == [f"Tick {i + 1} of {ticks}" for i in range(ticks)]  # nothing lost, in order
    return result


def test_a_tasks_progress_goes_over_the_monitors_socket(hub: LocalHub, educator: Api, probe_registered: None) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": "ok", "ticks": 5})
    result = check_ticks(educator, msgs, 5)
    assert [m["data"]["progress"] for m in msgs if "Tick 5" in m["data"]["message"]] == [14]
    assert result["socket"] == "loopback", result["fallback"]


def test_from_another_node_a_task_reports_over_tls_to_the_monitors_certificate(
    hub: LocalHub, educator: Api, probe_registered: None
) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": "tls", "ticks": 5})
    result = check_ticks(educator, msgs, 5)
    assert result["socket"] == "tls", result["fallback"]


@pytest.mark.parametrize("mode", ["wrong_token", "no_port"])
def test_where_no_socket_can_be_made_the_task_reports_by_actor_calls(
    hub: LocalHub, educator: Api, probe_registered: None, mode: str
) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": mode, "ticks": 5})
    assert check_ticks(educator, msgs, 5)["socket"] == "actor calls"


def test_the_socket_refuses_strangers_and_drops_bad_frames_without_stopping_the_job(
    hub: LocalHub, educator: Api, probe_registered: None
) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": "abuse", "ticks": 3})
    texts = [m["data"]["message"] for m in msgs]
    assert not any("text frame" in t or "another link" in t or t.startswith("xxx") for t in texts)
    result = check_ticks(educator, msgs, 3)  # the job's own reports, after all that, all arrived and only they
    assert result["tried"] == {"no_token": 401, "wrong_token": 401, "unknown_link": 404, "oversized": 1009}
    assert result["socket"] == "loopback"


def test_a_socket_broken_mid_stream_leaves_the_task_reporting_by_actor_calls(
    hub: LocalHub, educator: Api, probe_registered: None
) -> None:
    """The monitor closes the task's connection (a frame over HUB_TASK_LINK_MAX_FRAME, 1009) after
    two ticks: the task goes on by actor calls, and every tick still reaches the monitor in order."""
    msgs = run_job(hub, educator, "link_probe", {"mode": "break", "ticks": 5})
    result = check_ticks(educator, msgs, 5)
    assert (result["socket"], result["after"]) == ("loopback", "actor calls")
