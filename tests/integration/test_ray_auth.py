"""`hub serve --address HOST:PORT` against a real `ray start --head` with Ray token authentication
(a token in its HOME, so Ray >= 2.59 turns token auth on), as a user starts one; and what a person
sees when the token is missing or wrong, the cluster is gone, or the data dir is another hub's.

The head runs with its own HOME and temp dir (the developer's ~/.ray and /tmp/ray are untouched) and
free ports, in a process group of its own that the fixture ends by its pid, even on failure."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.core.errors import HubError
from hub.server import LocalHub
from jobs import local_hub
from tests.conftest import free_port, scaled
from tests.integration.test_readme_and_cli import ROOT, stop, user_env, wait_healthy

RAY = str(Path(sys.executable).parent / "ray")
HUB = str(Path(sys.executable).parent / "hub")


@dataclass
class Head:
    address: str
    home: Path  # its HOME: .ray/auth_token holds the cluster's token


def end_group(proc: subprocess.Popen) -> None:
    """End the process group the head started in (ray start --block and the Ray processes it ran)."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                proc.wait()
                return
            time.sleep(0.2)
    proc.wait(timeout=5)


@pytest.fixture(scope="module")
def token_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    home = tmp_path_factory.mktemp("ray-head-home")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    temp = Path(tempfile.mkdtemp(prefix="hubray-", dir="/tmp"))  # short: Ray's socket paths must fit
    port = free_port()
    log = temp / "head.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=1"),
                *("--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"),
                f"--dashboard-agent-listen-port={free_port()}",
            ],
            env=user_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + scaled(60)
        while "Ray runtime started" not in log.read_text():
            assert proc.poll() is None, f"ray start exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"ray start did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        assert "Token authentication is enabled" in log.read_text()  # the case of the issue
        yield Head(address=f"127.0.0.1:{port}", home=home)
    finally:
        end_group(proc)
        shutil.rmtree(temp, ignore_errors=True)


def hub_cli(args: list[str], env: dict[str, str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
    )


def test_hub_serve_joins_a_token_auth_cluster_and_says_why_when_it_cannot(
    token_head: Head, tmp_path: Path, hub: LocalHub
) -> None:
    data_dir = tmp_path / "data"
    env = user_env(token_head.home)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "hub.cli", "serve", "--address", token_head.address),
                *("--port", str(port), "--data-dir", str(data_dir), "--shards", "1"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server, log)
        assert "with Ray token authentication" in log.read_text()
        assert (data_dir / "ray.json").exists()

        # A second hub on the same data dir but another job store (namespace) is refused, naming the first.
        other = hub_cli(
            ["serve", "--address", token_head.address, "--port", str(free_port()), "--data-dir", str(data_dir)],
            {**env, "HUB_NAMESPACE": "another"},
        )
        assert other.returncode == 2, other.stderr[-2000:]
        assert f"another hub (pid {server.pid}) is running with data dir {data_dir}" in other.stderr
        assert "Traceback" not in other.stderr
        # So is a notebook's local_hub() there (this process's Ray is another cluster).
        with pytest.raises(HubError, match=f"pid {server.pid}"):
            local_hub("nb-second", data_dir=data_dir, namespace="hub-second", shards=1)
    finally:
        stop(server)
    assert server.returncode == 0, log.read_text()[-3000:]
    assert not (data_dir / "ray.json").exists()

    # The token truly missing: a sentence, exit 2, no traceback, in seconds.
    empty_home = tmp_path / "no-token-home"
    empty_home.mkdir()
    started = time.monotonic()
    missing = hub_cli(
        ["serve", "--address", token_head.address, "--data-dir", str(tmp_path / "d2")], user_env(empty_home)
    )
    assert missing.returncode == 2, missing.stderr[-2000:]
    assert f"hub: the Ray cluster at {token_head.address} requires a Ray auth token" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert time.monotonic() - started < scaled(15)

    # A wrong one.
    wrong = hub_cli(
        ["serve", "--address", token_head.address, "--data-dir", str(tmp_path / "d3")],
        {**user_env(empty_home), "RAY_AUTH_TOKEN": secrets.token_hex(32)},
    )
    assert wrong.returncode == 2, wrong.stderr[-2000:]
    assert "refused the Ray auth token from RAY_AUTH_TOKEN" in wrong.stderr and "Traceback" not in wrong.stderr

    # A port where something listens that is not a Ray cluster (a wrong port): a sentence in seconds.
    with socket.create_server(("127.0.0.1", 0)) as wrong_port:
        address = f"127.0.0.1:{wrong_port.getsockname()[1]}"
        started = time.monotonic()
        odd = hub_cli(["serve", "--address", address, "--data-dir", str(tmp_path / "d5")], env)
    assert odd.returncode == 2, odd.stderr[-2000:]
    assert f"hub: something listens at {address}, but no Ray cluster answered there" in odd.stderr
    assert "Traceback" not in odd.stderr and time.monotonic() - started < scaled(20)

    # No cluster there at all.
    gone = hub_cli(["serve", "--address", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d4")], env)
    assert gone.returncode == 2 and "no Ray cluster answers at 127.0.0.1:" in gone.stderr, gone.stderr[-2000:]


NOTEBOOK_KIND = """
from jobs import connect
hub = connect(educator="nb-dana")

@hub.job_kind("shout")
def shout(ctx, params):
    return {"text": params.model_dump()["text"].upper()}

print("RESULT", hub.submit("shout", text="hi").result(timeout=120))
hub.close()
"""


STALE = """
from hub.backend import Backend
from hub.core.errors import HubError
from jobs import connect
for attempt in (lambda: connect(educator="x"), Backend.connect):
    try:
        attempt()
    except HubError as exc:
        print(exc)
"""


def test_a_notebook_registers_a_kind_on_the_hubs_cluster_with_no_extra_steps_and_hears_when_it_is_gone(
    token_head: Head, tmp_path: Path, hub: LocalHub
) -> None:
    """The notebook is given nothing but the hub's URL: it finds the Ray address (and the token) on
    its own. After the hub dies without cleaning up, the same cell fails fast with a sentence."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**user_env(token_head.home), "HUB_DATA_DIR": str(data_dir), "HUB_URL": f"http://127.0.0.1:{port}"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [HUB, "serve", "--address", token_head.address, "--port", str(port), "--shards", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server, log)
        ran = subprocess.run(
            [sys.executable, "-c", NOTEBOOK_KIND],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=scaled(120),
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert "RESULT {'text': 'HI'}" in ran.stdout
    finally:
        server.kill()  # dies without removing its record
        server.wait()
    assert (data_dir / "ray.json").exists()
    started = time.monotonic()
    stale = subprocess.run([sys.executable, "-c", STALE], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert stale.returncode == 0, stale.stderr[-3000:]
    assert f"no hub answers at http://127.0.0.1:{port} (from HUB_URL): start one" in stale.stdout, stale.stdout
    assert "(pid " in stale.stdout and "is no longer running: start it again" in stale.stdout, stale.stdout
    assert time.monotonic() - started < scaled(20)  # not Ray's 20-40 s of retries, nor a hang
