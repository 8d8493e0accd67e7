"""Task links end to end (issue 15 item 3): a job's Ray task reports through the link its monitor
made, over the monitor's socket on the node, else by actor calls; the socket refuses a peer without
the monitor's token or naming a link it did not make, and drops what is not a link frame without
stopping the job. What the task saw comes back as the job's result; what the monitor took shows in
the progress messages the educator receives."""

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
    mode: str = "ok"  # ok | wrong_token | other_node | abuse
    ticks: int = 5


@ray.remote(num_cpus=0, max_retries=0)
def probe_task(link: TaskLink, ticks: int, abuse: bool) -> dict[str, Any]:
    """Reports `ticks` progress calls 80 ms apart (past the monitor's pacing: none is coalesced);
    with `abuse`, first tries the monitor's socket the wrong ways and says what each got."""
    import msgpack
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect as ws_connect

    tried: dict[str, Any] = {}
    if abuse and link.address is not None:
        url, auth = link.address.url, {"Authorization": f"Bearer {link.address.token}"}
        for name, path, headers in [
            ("no_token", f"/{link.channel}", {}),
            ("wrong_token", f"/{link.channel}", {"Authorization": "Bearer not-the-token"}),
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
        socket = report.over_socket
        for i in range(ticks):
            report.progress(10 + i, f"Tick {i + 1} of {ticks}")
            time.sleep(0.08)
    return {"socket": socket, "tried": tried}


async def probe_kind(ctx: Any, params: ProbeParams) -> dict[str, Any]:
    link = await ctx.link()
    if params.mode == "wrong_token":
        link = dataclasses.replace(link, address=link.address._replace(token="stolen-" + link.address.token))
    elif params.mode == "other_node":
        link = dataclasses.replace(link, address=link.address._replace(node_id="another-node"))
    result = await ctx.track(probe_task.remote(link, params.ticks, params.mode == "abuse"))
    await ctx.drained(link)
    return result


@pytest.fixture(scope="module")
def probe_registered(hub: LocalHub) -> None:
    nb = connect(hub.url, hub.token("link-registrar"), namespace=hub.settings.namespace)
    nb.register_kind("link_probe", probe_kind, ProbeParams)
    nb.close()


def ticks_seen(msgs: list[dict[str, Any]]) -> list[int]:
    return [int(m[1]) for m in (re.fullmatch(r"Tick (\d+) of \d+", x["data"]["message"]) for x in msgs) if m]


def test_a_tasks_progress_goes_over_the_monitors_socket(hub: LocalHub, educator: Api, probe_registered: None) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": "ok", "ticks": 5})
    assert statuses(msgs)[-1] == "completed"
    assert ticks_seen(msgs) == [1, 2, 3, 4, 5]
    assert [m["data"]["progress"] for m in msgs if "Tick" in m["data"]["message"]] == [10, 11, 12, 13, 14]
    result = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
    assert result["socket"] is True


@pytest.mark.parametrize("mode", ["wrong_token", "other_node"])
def test_where_no_socket_can_be_made_the_task_reports_by_actor_calls(
    hub: LocalHub, educator: Api, probe_registered: None, mode: str
) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": mode, "ticks": 5})
    assert statuses(msgs)[-1] == "completed"
    assert ticks_seen(msgs) == [1, 2, 3, 4, 5]  # nothing lost, in order
    result = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
    assert result["socket"] is False


def test_the_socket_refuses_strangers_and_drops_bad_frames_without_stopping_the_job(
    hub: LocalHub, educator: Api, probe_registered: None
) -> None:
    msgs = run_job(hub, educator, "link_probe", {"mode": "abuse", "ticks": 3})
    assert statuses(msgs)[-1] == "completed"
    texts = [m["data"]["message"] for m in msgs]
    assert not any("text frame" in t or "another link" in t or t.startswith("xxx") for t in texts)
    assert ticks_seen(msgs) == [1, 2, 3]  # the job's own reports, after all that, all arrived
    result = educator.http.get(f"/api/jobs/{msgs[0]['data']['jobId']}/result").json()
    assert result["tried"] == {"no_token": 401, "wrong_token": 401, "unknown_link": 404, "oversized": 1009}
    assert result["socket"] is True
