"""The pure parts of the fixes from a fresh user's trial of the first hour (issue 13 D, follow-up):
the token hint `hub serve` prints, the sentence for a token signed with another secret, the URL a
notebook connects to and where it came from, and the notebook's wait on a 429."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from hub.auth import BAD_SIGNATURE, issue_token, verify_token
from hub.cli import token_hint
from hub.core.errors import AuthError, HubError
from hub.ingress.connection import fit_reason
from hub.notebook import DEFAULT_URL, HubRefused, hub_url, retry_wait

SECRET = "the-secret-of-this-hub-0123456789abcdef"

# -- 1: the token hint and the bad-signature sentence ----------------------------------------------


def test_the_token_hint_names_the_data_dir_unless_it_is_the_default_or_the_secret_is_given(tmp_path: Path) -> None:
    default = tmp_path / "home" / ".local" / "share" / "hub"
    hint = token_hint(".venv/bin/hub", default, secret_set=False, default=default)
    assert hint == ".venv/bin/hub token EDUCATOR_ID"
    assert (
        token_hint("hub", Path("/tmp/x"), secret_set=False, default=default)
        == "hub token EDUCATOR_ID --data-dir /tmp/x"
    )
    spaced = tmp_path / "my hub"
    assert token_hint("hub", spaced, secret_set=False, default=default).endswith(f"--data-dir '{spaced}'")
    # HUB_SECRET signs tokens whatever the data dir: `hub token` run with it needs no --data-dir.
    assert token_hint("hub", Path("/tmp/x"), secret_set=True, default=default) == "hub token EDUCATOR_ID"


def test_a_token_signed_with_another_secret_is_refused_with_the_likely_cause() -> None:
    other = issue_token("the-secret-of-another-hub-0123456789abcd", "alice", now=time.time())
    with pytest.raises(AuthError) as caught:
        verify_token(SECRET, other)
    assert str(caught.value) == BAD_SIGNATURE
    assert "not signed with this hub's secret" in BAD_SIGNATURE and "--data-dir" in BAD_SIGNATURE
    # The 4401 close reason carries it whole (a close frame holds 123 bytes of reason).
    assert len(BAD_SIGNATURE.encode()) <= 123 and fit_reason(BAD_SIGNATURE) == BAD_SIGNATURE
    # Other defects keep their own words.
    unsigned = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="invalid token: .*exp") as caught:
        verify_token(SECRET, unsigned)
    assert str(caught.value) != BAD_SIGNATURE
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(SECRET, "not.a.jwt")


# -- 4: the URL connect() uses ---------------------------------------------------------------------


def test_connect_uses_the_given_url_then_hub_url_then_the_running_hubs_record_then_the_default(tmp_path: Path) -> None:
    record = {"url": "http://127.0.0.1:8765/", "address": "127.0.0.1:6379", "namespace": "hub", "pid": 1}
    path = tmp_path / "ray.json"
    assert hub_url("http://h:1/", "http://e:2", tmp_path, record, True) == ("http://h:1", "given to connect()")
    assert hub_url(None, "http://e:2", tmp_path, record, True) == ("http://e:2", "from HUB_URL")
    assert hub_url(None, None, tmp_path, record, True) == (
        "http://127.0.0.1:8765",
        f"recorded by the running hub in {path}",
    )
    assert hub_url(None, None, tmp_path, record, False) == (DEFAULT_URL, f"the default: its hub has stopped in {path}")
    assert hub_url(None, None, tmp_path, None, False) == (
        DEFAULT_URL,
        f"the default: no running hub recorded one in {path}",
    )


# -- 3: a 429 on submit --------------------------------------------------------------------------


def test_a_429_is_waited_out_for_its_retry_after_within_the_budget() -> None:
    assert retry_wait("1", 0.0, 60.0) == 1.0
    assert retry_wait("3", 57.0, 60.0) == 3.0
    assert retry_wait("4", 57.0, 60.0) is None  # past the budget: the refusal is raised
    assert retry_wait(None, 0.0, 60.0) == 1.0  # no Retry-After: a second
    assert retry_wait("Wed, 21 Oct 2026 07:28:00 GMT", 0.0, 60.0) == 1.0  # an HTTP date: a second
    assert retry_wait("-5", 0.0, 60.0) == 0.0
    assert retry_wait("1", 0.0, 0.0) is None  # a budget of 0: no retries


def test_a_refusal_carries_its_status_and_detail_and_is_still_a_runtime_error() -> None:
    refused = HubRefused("submit", 429, "too many jobs submitted; try again in 0.1s")
    assert isinstance(refused, HubError) and isinstance(refused, RuntimeError)
    assert (refused.status, refused.detail) == (429, "too many jobs submitted; try again in 0.1s")
    assert str(refused) == "submit failed (429): too many jobs submitted; try again in 0.1s"
