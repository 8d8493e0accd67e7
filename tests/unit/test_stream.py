from hub.core.stream import EducatorStream, StreamPosition


def make(max_messages: int = 5, max_age: float = 60.0) -> EducatorStream:
    return EducatorStream("alice", "e1", max_messages=max_messages, max_age=max_age)


def test_seqs_count_up_from_one() -> None:
    s = make()
    seqs = [s.append("notification", {"i": i}, 100.0).seq for i in range(3)]
    assert seqs == [1, 2, 3]
    assert s.last_seq == 3


def test_resume_returns_everything_after_seq_in_order() -> None:
    s = make()
    for i in range(4):
        s.append("notification", {"i": i}, 100.0)
    missed = s.since(StreamPosition("e1", 1), 100.0)
    assert missed is not None
    assert [e.seq for e in missed] == [2, 3, 4]
    assert s.since(StreamPosition("e1", 4), 100.0) == []


def test_resume_refused_on_other_epoch_or_future_seq() -> None:
    s = make()
    s.append("notification", {}, 100.0)
    assert s.since(StreamPosition("other", 0), 100.0) is None
    assert s.since(StreamPosition("e1", 2), 100.0) is None


def test_resume_refused_when_count_window_passed() -> None:
    s = make(max_messages=3)
    for i in range(6):
        s.append("notification", {"i": i}, 100.0)
    assert len(s) == 3
    assert s.first_retained_seq == 4
    assert s.since(StreamPosition("e1", 2), 100.0) is None  # seq 3 is gone
    missed = s.since(StreamPosition("e1", 3), 100.0)
    assert missed is not None and [e.seq for e in missed] == [4, 5, 6]


def test_resume_refused_when_age_window_passed() -> None:
    s = make(max_age=10.0)
    s.append("notification", {}, 100.0)
    s.append("notification", {}, 105.0)
    assert s.since(StreamPosition("e1", 0), 109.0) is not None
    assert s.since(StreamPosition("e1", 0), 112.0) is None  # seq 1 aged out
    assert [e.seq for e in s.since(StreamPosition("e1", 1), 112.0) or []] == [2]
    # all aged out: a client that saw everything still resumes, with nothing to send
    assert s.since(StreamPosition("e1", 2), 500.0) == []


def test_envelope_wire_has_only_protocol_fields() -> None:
    env = make().append("quiz_status", {"jobId": "j"}, 100.0, job_id="j", tick=True)
    assert env.wire() == {"seq": 1, "type": "quiz_status", "ts": 100.0, "data": {"jobId": "j"}}
