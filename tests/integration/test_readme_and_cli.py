"""The README's Python example and the `hub` command, run as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import ray
from websockets.exceptions import ConnectionClosed

from hub.server import LocalHub
from tests.conftest import scaled
from tests.integration.conftest import open_ws

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def readme_python_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Watching a job from a notebook or a script", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its Python example"
    return match.group(1)


def test_readme_python_example_runs_against_a_live_hub(hub: LocalHub) -> None:
    env = {**os.environ, "HUB_URL": hub.url, "HUB_TOKEN": hub.token("readme-reader")}
    done = subprocess.run(
        [sys.executable, "-c", readme_python_example()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = [line for line in done.stdout.splitlines() if " -> " in line]
    assert len(answers) == 5, done.stdout
    assert "100%" in done.stderr  # tqdm's bar reached the end (it draws on stderr)
    jobs = httpx.get(hub.url + "/api/jobs", headers={"Authorization": f"Bearer {env['HUB_TOKEN']}"}).json()
    assert jobs[0]["status"] == "completed"


def test_hub_serve_joins_a_cluster_and_hub_token_works(tmp_path: Path, hub: LocalHub) -> None:
    """`hub serve --address` (here: this test run's Ray) with no configuration, then `hub token`."""
    port = 18_000 + os.getpid() % 1000
    env = {**os.environ, "HUB_NAMESPACE": "hub-cli-test", "HUB_SHARDS": "1"}
    env.pop("HUB_SECRET", None)
    address = ray.get_runtime_context().gcs_address
    server = subprocess.Popen(
        [
            *(str(BIN / "hub"), "serve", "--address", address, "--port", str(port), "--data-dir", str(tmp_path)),
            *("--log-format", "json"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            time.sleep(0.2)
        else:
            raise AssertionError("hub serve did not become healthy")
        token = subprocess.run(
            [str(BIN / "hub"), "token", "cli-alice", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        class Remote:
            pass

        remote = Remote()
        remote.url = url  # type: ignore[attr-defined]

        async def hello_then_sigterm() -> tuple[dict, int | None]:
            ws, welcome = await open_ws(remote, {"token": token})  # type: ignore[arg-type]
            server.send_signal(signal.SIGTERM)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(20))
            except ConnectionClosed:
                pass
            return welcome, ws.close_code

        welcome, code = asyncio.run(hello_then_sigterm())
        assert welcome["op"] == "welcome" and welcome["educatorId"] == "cli-alice"
        assert code == 1001  # drained: the client reconnects elsewhere and resumes
        assert (tmp_path / "secret").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=scaled(30))
    assert "listening on" in out
    assert server.returncode == 0, out[-2000:]
    logs = [json.loads(line) for line in out.splitlines() if line.startswith('{"ts"')]
    connected = [r for r in logs if r["logger"] == "hub.ws" and "connected" in r["msg"]]
    assert connected and connected[0]["educator"] == "cli-alice" and connected[0]["session"], logs
    assert any(r["logger"].startswith("uvicorn") for r in logs)  # uvicorn's own lines are JSON too


def test_hub_token_without_a_secret_explains_itself(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_SECRET"}
    done = subprocess.run(
        [str(BIN / "hub"), "token", "x", "--data-dir", str(tmp_path / "empty")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2 and "HUB_SECRET" in done.stderr
