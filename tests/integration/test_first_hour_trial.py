"""The frictions a fresh user met in the first hour (issue 13 D, follow-up), against the real hub:
the 401/4401 sentence for a token signed with another secret, a second `hub serve` on a taken
port, 25 quick submissions from a notebook, connect() finding the running hub's URL, and a
local_hub that keeps uvicorn's lines out of the notebook."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from hub.auth import BAD_SIGNATURE, issue_token
from hub.core.errors import HubError
from hub.server import LocalHub
from hub.settings import Settings
from jobs import Hub, HubRefused, Job, connect, local_hub
from tests.conftest import free_port, scaled
from tests.integration.conftest import DOCUMENT, SECRET, open_ws

HUB = str(Path(sys.executable).parent / "hub")
ROOT = Path(__file__).resolve().parents[2]


def test_a_token_signed_with_another_secret_is_refused_with_the_likely_cause_on_http_and_websocket(
    hub: LocalHub,
) -> None:
    other = issue_token("the-secret-of-another-hub-0123456789abcd", "trial-alice", now=time.time())
    reply = httpx.get(hub.url + "/api/jobs", headers={"Authorization": f"Bearer {other}"})
    assert reply.status_code == 401 and reply.json()["detail"] == BAD_SIGNATURE

    async def refused() -> tuple[int | None, str | None]:
        ws, _ = await open_ws(hub, None)
        await ws.send(json.dumps({"op": "hello", "token": other}))
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), scaled(10))
        return ws.close_code, ws.close_reason

    code, reason = asyncio.run(refused())
    assert code == 4401 and reason == BAD_SIGNATURE


def listening_socket() -> socket.socket:
    """A socket listening on a free port of 127.0.0.1, as a running hub's would be."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_second_hub_on_a_taken_port_says_so_at_once_before_starting_ray(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "RAY_"))}
    env.update(PYTHONPATH=str(ROOT))
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [HUB, "serve", "--port", str(port), "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=scaled(60),
        )
        took = time.monotonic() - started
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"hub: port {port} on 127.0.0.1 is in use (another hub?): stop it or choose --port" in done.stderr
        assert "Traceback" not in done.stderr and "listening on" not in done.stdout
        assert took < scaled(10), f"took {took:.1f}s: Ray was started first"  # Ray and shards take ~15 s
        assert not (tmp_path / "ray.json").exists()

        # The same check for a hub in a notebook given that port; port 0 (any free one) still works.
        with pytest.raises(HubError, match=f"port {port} on 127.0.0.1 is in use"):
            LocalHub(Settings(port=port, data_dir=tmp_path / "local", secret=SECRET))


SHORT = "Too short. Really."  # a tiny job: it fails at once, so 25 of them cost little


def test_a_submission_refused_for_rate_is_sent_again_after_retry_after_or_raises_hub_refused(
    hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 submissions at once meet the limit for certain: without a retry budget the refusals raise
    HubRefused (429, the hub's sentence); with one, sent again at once, every one succeeds."""
    for name in ("HUB_TOKEN", "HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_SECRET", SECRET)
    educator = f"nb-burst-{time.monotonic_ns() % 10**8}"

    def submit(nb: Hub) -> Job | HubRefused:
        try:
            return nb.submit("quiz_generation", text=SHORT, numQuestions=1)
        except HubRefused as exc:
            return exc

    with connect(hub.url, educator=educator, retry_budget=0.0) as impatient, connect(hub.url, educator=educator) as nb:
        with ThreadPoolExecutor(25) as pool:
            first = list(pool.map(lambda _: submit(impatient), range(25)))
        refused = [r for r in first if isinstance(r, HubRefused)]
        assert refused, "25 submissions at once did not meet the limit of a burst of 20"
        assert all(r.status == 429 and "too many jobs submitted" in r.detail for r in refused)
        assert all(isinstance(r, RuntimeError) for r in refused)  # what callers caught before

        statuses: list[int] = []
        nb._http.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
        with ThreadPoolExecutor(len(refused)) as pool:
            again = list(pool.map(lambda _: submit(nb), refused))
        assert all(isinstance(r, Job) for r in again), again
        assert 429 in statuses  # the bucket was empty: these waited out Retry-After
        for job in [r for r in first + again if isinstance(r, Job)]:
            assert job.wait(timeout=scaled(120))["status"] == "failed"


def test_connect_finds_the_running_hubs_url_and_a_local_hub_prints_no_uvicorn_lines(
    hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("HUB_TOKEN", "HUB_URL", "HUB_SECRET", "HUB_LOG_LEVEL", "HUB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HUB_URL", dead)
    with pytest.raises(HubError, match=f"no hub answers at {dead} \\(from HUB_URL\\)"):
        connect(educator="nb-grace", token="unused")
    monkeypatch.delenv("HUB_URL")
    capfd.readouterr()
    with local_hub(educator="nb-grace", data_dir=tmp_path, namespace="hub-trial-quiet", shards=1) as nb:
        with connect(educator="nb-grace", data_dir=tmp_path) as found:  # no url, no HUB_URL: the record's
            assert found.url == nb.url and found.url_source.startswith("recorded by the running hub")
            job = found.submit_quiz(DOCUMENT, num_questions=1)
            assert job.wait(timeout=scaled(60))["status"] == "completed"
        assert nb.submit_quiz(DOCUMENT, num_questions=1).wait(timeout=scaled(60))["status"] == "completed"
    out, err = capfd.readouterr()
    for line in ('"WebSocket /ws"', "connection open", "connection closed", "Started server", "Uvicorn running"):
        assert line not in out and line not in err, (out + err)[-2000:]
    assert "local hub at" in out  # its own line still shows
