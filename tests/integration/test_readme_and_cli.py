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

from hub.core.sharding import shards_for_cpus
from hub.server import LocalHub
from hub.settings import machine_cpus
from tests.conftest import TIME_FACTOR, free_port, scaled
from tests.integration.conftest import open_ws

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


HUB = str(BIN / "hub")


def readme_python_blocks() -> list[str]:
    """Every ```python block of the README, in order."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 5, "the README lost Python blocks"
    return blocks


def user_env(home: Path) -> dict[str, str]:
    """A new user's environment: their own HOME (so ~/.local/share/hub and ~/.ray are theirs and
    fresh), nothing of this test run's HUB_* or RAY_* settings, this checkout's code on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "RAY_")) and k != "XDG_DATA_HOME"}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), HUB_TEST_TIME_FACTOR=str(TIME_FACTOR))
    return env


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"hub serve exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"hub serve did not become healthy:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# What a notebook does with a cell: compile it allowing top-level await (IPython's flag), run the
# coroutine that makes on the kernel's one event loop, all cells in one namespace.
NOTEBOOK = """
import ast, asyncio, json, sys, types
cells = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
loop = asyncio.new_event_loop()
for number, cell in enumerate(cells, 1):
    print(f"--- cell {number}", flush=True)
    code = compile(cell, f"<README python block {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if isinstance(result, types.CoroutineType):
        loop.run_until_complete(result)
print("--- all cells ran", flush=True)
"""


def test_every_readme_python_block_runs_as_written_against_make_serve(tmp_path: Path) -> None:
    """`hub serve` as `make serve` starts it (its own local Ray, the default data dir of a fresh
    user), then the README's Python blocks in order in one notebook-like namespace from a directory
    that is not the repository's, with no other setup; the pytest-plugin block runs under pytest."""
    home, cwd = tmp_path / "home", tmp_path / "somewhere-else"
    home.mkdir()
    cwd.mkdir()
    env = user_env(home)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([HUB, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, log)
        printed = log.read_text()
        data_dir = home / ".local" / "share" / "hub"
        assert f"data dir {data_dir}" in printed and f"secret from {data_dir / 'secret'}" in printed
        assert f"{HUB} token EDUCATOR_ID" in printed or ".venv/bin/hub token EDUCATOR_ID" in printed
        assert (data_dir / "ray.json").exists() and "Ray cluster" in printed
        # Its own Ray runs no log monitor: it says where the actors' output (failed jobs' tracebacks) is.
        shards = re.search(
            r"hub: (\d+) registry shards?; the actors' logs \(tracebacks of failed jobs\) are in (\S+)", printed
        )
        assert shards and int(shards.group(1)) == shards_for_cpus(machine_cpus(), 4), printed  # HUB_* unset
        assert Path(shards.group(2)).is_dir(), printed

        *cells, plugin_test = readme_python_blocks()
        assert "def test_" in plugin_test and all("def test_" not in c for c in cells)
        (tmp_path / "cells.json").write_text(json.dumps(cells))
        notebook = subprocess.run(
            [sys.executable, "-c", NOTEBOOK, str(tmp_path / "cells.json")],
            cwd=cwd,
            # No HUB_URL, though this hub is not on port 8000: connect() takes the URL the running
            # hub recorded in its data dir's ray.json.
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(240),
        )
        assert notebook.returncode == 0, notebook.stdout[-3000:] + notebook.stderr[-5000:]
        assert notebook.stdout.count("--- cell") == len(cells) and "--- all cells ran" in notebook.stdout
        answers = [line for line in notebook.stdout.splitlines() if " -> " in line and " indexed -> " not in line]
        assert len(answers) == 5, notebook.stdout  # the first block's quiz
        assert "chunk indexed -> 5 questions" in notebook.stdout or "chunks indexed -> 5 questions" in notebook.stdout
        assert "{'words': 2}" in notebook.stdout  # the custom kind ran in the hub's cluster
        assert "{'words_in_a_task': 3}" in notebook.stdout  # and the one whose Ray task reports by a task link
        assert "{'squares': [0, 1, 4, 9]}" in notebook.stdout  # a custom kind's partial results
        assert "  question 1 of 5: " in notebook.stdout and "3 questions came before" in notebook.stdout  # watch()
        assert "100%" in notebook.stderr and "| completed" in notebook.stderr  # tqdm's bar (on stderr)
        assert ", completed" not in notebook.stderr and "Traceback" not in notebook.stderr

        token = subprocess.run([HUB, "token", "alice"], env=env, capture_output=True, text=True, check=True)
        assert str(data_dir / "secret") in token.stderr  # it says which secret signed it
        jobs = httpx.get(url + "/api/jobs", headers={"Authorization": f"Bearer {token.stdout.strip()}"}).json()
        kinds = {j["kind"] for j in jobs}  # everything the blocks did is alice's, as connect(educator=) said
        assert {"quiz_generation", "document_processing", "word_count", "question_replace"} <= kinds, kinds
        assert all(j["educatorId"] == "alice" for j in jobs)

        (cwd / "test_readme_plugin.py").write_text(plugin_test)
        plugin = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_plugin.py"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(180),
        )
        assert plugin.returncode == 0 and "1 passed" in plugin.stdout, plugin.stdout[-3000:] + plugin.stderr[-3000:]
    finally:
        stop(server)
    assert server.returncode == 0, log.read_text()[-3000:]
    assert not (home / ".local" / "share" / "hub" / "ray.json").exists()  # removed at stop


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
    # Its own data dir, no HUB_SECRET: the token hint says to give `hub token` that data dir.
    assert f"hub token EDUCATOR_ID --data-dir {tmp_path}" in out, out[-2000:]
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


def test_hub_token_says_which_secret_signed_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_SECRET"}
    made = subprocess.run([HUB, "token", "x", "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env)
    assert made.returncode == 2  # no secret there yet
    (tmp_path / "secret").write_text("s" * 40 + "\n")
    from_file = subprocess.run(
        [HUB, "token", "x", "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert from_file.returncode == 0 and from_file.stdout.count(".") == 2  # stdout: the bare JWT
    assert f"signed with the secret in {tmp_path / 'secret'}" in from_file.stderr
    given = subprocess.run(
        [HUB, "token", "x", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**env, "HUB_SECRET": "t" * 40},
    )
    assert given.returncode == 0 and "signed with HUB_SECRET" in given.stderr
