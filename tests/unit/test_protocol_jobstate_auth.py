import json
import time
from pathlib import Path

import pytest

from hub.auth import issue_token, resolve_secret, verify_token
from hub.core.errors import AuthError, BadFrame, HubError, InvalidTransition
from hub.core.jobstate import JobState, check_transition, estimate_eta, message_for
from hub.core.protocol import Cancel, Hello, Ping, parse_client_frame, welcome_frame


def test_parse_hello_with_resume_and_types() -> None:
    op = parse_client_frame(
        json.dumps({"op": "hello", "token": "t", "resume": {"epoch": "e", "seq": 3}, "types": ["quiz_status"]})
    )
    assert isinstance(op, Hello) and op.resume is not None and op.resume.seq == 3


@pytest.mark.parametrize(
    ("frame", "ref"),
    [
        ("not json", None),
        ("[1,2]", None),
        ('{"op": "fly"}', "fly"),
        ('{"op": "ping", "id": 1, "extra": true}', "ping"),
        ('{"op": "hello"}', "hello"),
        ('{"op": "subscribe", "types": ["nope"]}', "subscribe"),
        ('{"op": "cancel", "jobId": 5}', "cancel"),
    ],
)
def test_bad_frames_are_refused_with_their_op(frame: str, ref: str | None) -> None:
    with pytest.raises(BadFrame) as info:
        parse_client_frame(frame)
    assert info.value.ref == ref
    assert info.value.message


def test_ping_and_cancel_use_wire_names() -> None:
    assert isinstance(parse_client_frame('{"op":"ping","id":{"n":1}}'), Ping)
    cancel = parse_client_frame('{"op":"cancel","jobId":"j1"}')
    assert isinstance(cancel, Cancel) and cancel.job_id == "j1"


def test_welcome_has_snapshot_only_when_not_resumed() -> None:
    fresh = json.loads(
        welcome_frame(session="s", educator_id="a", epoch="e", seq=0, heartbeat=20, resumed=False, snapshot=None)
    )
    assert fresh["snapshot"] == [] and fresh["op"] == "welcome" and fresh["educatorId"] == "a"
    resumed = json.loads(
        welcome_frame(session="s", educator_id="a", epoch="e", seq=4, heartbeat=20, resumed=True, snapshot=None)
    )
    assert "snapshot" not in resumed


def test_transition_table() -> None:
    assert check_transition(None, "queued") is True
    assert check_transition("queued", "processing") is True
    assert check_transition("processing", "processing") is False  # a tick
    assert check_transition("processing", "completed") is True
    for terminal in ("completed", "failed", "cancelled"):
        with pytest.raises(InvalidTransition):
            check_transition(terminal, "processing")
    with pytest.raises(InvalidTransition):
        check_transition("queued", "completed")


def job(**kw: object) -> JobState:
    base = dict(job_id="j", kind="quiz_generation", educator_id="a", quiz_id="q", created_at=1.0, updated_at=1.0)
    return JobState(**{**base, **kw})  # type: ignore[arg-type]


def test_message_for_quiz_status_uses_camel_case_fields() -> None:
    mtype, data = message_for(job(status="processing", progress=42.25, message="Working", eta_seconds=3.0))
    assert mtype == "quiz_status"
    assert data == {
        "jobId": "j",
        "quizId": "q",
        "status": "processing",
        "progress": 42.2,
        "message": "Working",
        "etaSeconds": 3.0,
    }
    _, failed = message_for(job(status="failed", error="boom", eta_seconds=3.0))
    assert failed["error"] == "boom" and "etaSeconds" not in failed


def test_advance_checks_transitions_and_stamps_time() -> None:
    state = job().advance(5.0, status="processing", progress=10)
    assert state.updated_at == 5.0 and state.status == "processing"
    with pytest.raises(InvalidTransition):
        state.advance(6.0, status="queued")


def test_eta_from_progress_rate() -> None:
    assert estimate_eta(0.0, 10.0, 50.0) == pytest.approx(10.0)
    assert estimate_eta(0.0, 10.0, 2.0) is None
    assert estimate_eta(0.0, 10.0, 100.0) is None


SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_tokens_round_trip_and_refusals() -> None:
    tok = issue_token(SECRET, "alice", role="service", ttl=60, now=time.time())
    who = verify_token(SECRET, tok)
    assert who.sub == "alice" and who.role == "service"
    with pytest.raises(AuthError):
        verify_token("another-secret-of-the-same-length-0123456789", tok)
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, issue_token(SECRET, "alice", ttl=-10, now=1e9))
    with pytest.raises(AuthError, match="missing"):
        verify_token(SECRET, "")
    import jwt

    unsigned = jwt.encode({"sub": "alice", "exp": 4e9}, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(AuthError):
        verify_token(SECRET, unsigned)


def test_secret_is_made_once_per_data_dir_for_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(HubError, match="no secret"):
        resolve_secret(None, tmp_path, "127.0.0.1", create=False)
    made = resolve_secret(None, tmp_path, "127.0.0.1", create=True)
    assert resolve_secret(None, tmp_path, "127.0.0.1", create=True) == made
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert resolve_secret("given", tmp_path, "0.0.0.0", create=True) == "given"
    with pytest.raises(HubError, match="HUB_SECRET"):
        resolve_secret(None, tmp_path / "x", "0.0.0.0", create=True)
