"""The pure parts of the first-hour fixes (issue 13 D): Ray token detection and the sentences for a
failed join, the hub command to print, the data-dir lock and record, the progress bar's status
text and counted nouns."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.cli import hub_command
from hub.notebook import status_line
from hub.raycluster import (
    DataDirLock,
    holder_pid,
    hub_running,
    in_use_message,
    join_failure,
    needs_token_mode,
    ray_token_source,
    read_record,
    split_address,
)
from jobs.words import plural

# -- Ray token auth ------------------------------------------------------------------------------


def test_the_token_is_found_where_ray_looks_in_rays_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert ray_token_source({}, home) is None
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("")
    assert ray_token_source({}, home) is None  # an empty file is no token
    (home / ".ray" / "auth_token").write_text("abc\n")
    assert ray_token_source({}, home) == str(home / ".ray" / "auth_token")
    custom = tmp_path / "token"
    assert ray_token_source({"RAY_AUTH_TOKEN_PATH": str(custom)}, home) is None  # Ray reads only that file
    custom.write_text("def")
    assert ray_token_source({"RAY_AUTH_TOKEN_PATH": str(custom)}, home) == f"RAY_AUTH_TOKEN_PATH ({custom})"
    assert ray_token_source({"RAY_AUTH_TOKEN": "x", "RAY_AUTH_TOKEN_PATH": str(custom)}, home) == "RAY_AUTH_TOKEN"
    assert ray_token_source({"RAY_AUTH_TOKEN": "  "}, home) == str(home / ".ray" / "auth_token")


@pytest.mark.parametrize(
    ("address", "environ", "source", "expected"),
    [
        ("127.0.0.1:6379", {}, "~/.ray/auth_token", True),  # the case Ray leaves off
        ("10.0.0.1:6379", {}, None, False),  # no token: nothing to send
        ("127.0.0.1:6379", {"RAY_AUTH_MODE": "disabled"}, "RAY_AUTH_TOKEN", False),  # the user chose
        ("127.0.0.1:6379", {"RAY_AUTH_MODE": "token"}, "RAY_AUTH_TOKEN", False),  # already on
        ("auto", {}, "~/.ray/auth_token", False),  # Ray does it itself
        (None, {}, "~/.ray/auth_token", False),
        ("local", {}, "~/.ray/auth_token", False),
    ],
)
def test_token_mode_is_turned_on_only_for_an_explicit_address(
    address: str | None, environ: dict[str, str], source: str | None, expected: bool
) -> None:
    assert needs_token_mode(address, environ, source) is expected


def test_addresses_split_into_host_and_port() -> None:
    assert split_address("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert split_address("head.example:10001") == ("head.example", 10001)
    assert split_address("[::1]:6379") == ("::1", 6379)
    assert split_address("auto") is None
    assert split_address("ray://head:10001") is None
    assert split_address("head:port") is None


def test_each_join_failure_is_one_sentence_that_says_what_to_do() -> None:
    gone = join_failure("127.0.0.1:1", "unreachable", None, None)
    assert "no Ray cluster answers at 127.0.0.1:1" in gone and "ray start --head" in gone
    missing = join_failure("h:1", "refused-token", None, None)
    assert "requires a Ray auth token" in missing and "~/.ray/auth_token" in missing and "RAY_AUTH_TOKEN" in missing
    wrong = join_failure("h:1", "refused-token", "RAY_AUTH_TOKEN", "token")
    assert "refused the Ray auth token from RAY_AUTH_TOKEN" in wrong and "ray get-auth-token" in wrong
    disabled = join_failure("h:1", "refused-token", "RAY_AUTH_TOKEN", "disabled")
    assert "RAY_AUTH_MODE=disabled" in disabled
    not_ray = join_failure("h:8000", "not-ray", None, None)
    assert "something listens at h:8000, but no Ray cluster answered" in not_ray and "6379" in not_ray
    for sentence in (gone, missing, wrong, disabled, not_ray, join_failure("h:1", "timeout", None, None)):
        assert "\n" not in sentence and "Traceback" not in sentence


# -- the hub command in the serve hint -------------------------------------------------------------


def test_the_hint_names_the_hub_script_beside_this_python(tmp_path: Path) -> None:
    venv = tmp_path / "repo" / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "hub").write_text("#!/bin/sh\n")
    python = str(venv / "python")
    assert hub_command(python, tmp_path / "repo", on_path=None) == ".venv/bin/hub"  # as the README says
    assert hub_command(python, tmp_path / "elsewhere", on_path=None) == str(venv / "hub")
    assert hub_command(python, tmp_path / "repo", on_path=str(venv / "hub")) == "hub"  # it is on PATH
    assert hub_command(python, tmp_path / "repo", on_path="/usr/bin/hub") == ".venv/bin/hub"  # another one is
    bare = tmp_path / "bare" / "python"
    assert hub_command(str(bare), tmp_path, on_path=None) == f"{bare} -m hub.cli"


# -- the data dir: one hub, its pid, its Ray record ------------------------------------------------


def test_a_second_lock_on_a_data_dir_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    assert not hub_running(tmp_path)
    assert first.try_acquire() and first.held
    assert holder_pid(tmp_path) == os.getpid()
    assert hub_running(tmp_path)
    assert not second.try_acquire()  # flock: even from this process, another open file is refused
    assert holder_pid(tmp_path) == os.getpid()  # the refused one did not overwrite the pid
    first.record("192.0.2.2:6379", "hub", "http://127.0.0.1:8000")
    assert read_record(tmp_path) == {
        "address": "192.0.2.2:6379",
        "namespace": "hub",
        "url": "http://127.0.0.1:8000",
        "pid": os.getpid(),
    }
    first.release()
    assert read_record(tmp_path) is None  # the record goes at stop
    assert not hub_running(tmp_path)
    assert second.try_acquire()
    second.release()


def test_a_record_left_by_another_process_is_kept_and_torn_records_read_as_none(tmp_path: Path) -> None:
    (tmp_path / "ray.json").write_text(json.dumps({"address": "a:1", "namespace": "n", "pid": 1}))
    lock = DataDirLock(tmp_path)
    assert lock.try_acquire()
    lock.release()
    assert read_record(tmp_path) == {"address": "a:1", "namespace": "n", "pid": 1}  # not ours to remove
    (tmp_path / "ray.json").write_text('{"addr')
    assert read_record(tmp_path) is None


def test_the_in_use_sentence_names_the_pid_and_how_to_choose_another_dir(tmp_path: Path) -> None:
    text = in_use_message(tmp_path, 4242)
    assert "pid 4242" in text and str(tmp_path) in text
    assert "--data-dir" in text and "HUB_DATA_DIR" in text and "local_hub(data_dir=" in text


# -- what people read ------------------------------------------------------------------------------


def test_the_progress_bar_status_has_no_stray_separator() -> None:
    assert status_line({"status": "completed", "message": ""}) == "completed"
    assert status_line({"status": "processing", "message": "Generated 2 of 5 questions"}) == (
        "processing: Generated 2 of 5 questions"
    )
    assert len(status_line({"status": "processing", "message": "x" * 500})) == 80
    assert not status_line({"status": "queued"}).startswith(",")


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [(0, "chunk", "0 chunks"), (1, "chunk", "1 chunk"), (2, "chunk", "2 chunks"), (1200, "chunk", "1,200 chunks")],
)
def test_counted_nouns_agree_with_their_count(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


def test_irregular_plurals() -> None:
    assert plural(1, "index", "indices") == "1 index" and plural(3, "index", "indices") == "3 indices"
