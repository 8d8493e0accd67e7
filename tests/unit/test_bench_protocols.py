"""The JSON-or-MessagePack benchmark's pure parts (bench/protocols.py and its modules): the order that
keeps a drift of the machine from favouring a cell, the payloads (a real quiz_status progress stream,
a real 50-question quiz), the client's decoding, the in-process timings' shape, and the report's
medians and ratios against JSON with the same compression; a wrong one would compare different
payloads or divide by the wrong baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bench import protocols, protocols_micro, protocols_report
from bench.protocol_clients import CELLS, decode
from hub.core.codecs import MsgpackFrames
from hub.core.protocol import batch_frame, envelope_json


@pytest.mark.parametrize("rounds", [1, 2, 4])
def test_each_round_has_every_cell_once_and_the_order_alternates(rounds: int) -> None:
    found = protocols.order(rounds)
    assert len(found) == rounds
    for n, cells in enumerate(found):
        assert sorted(cells) == sorted(CELLS)
        assert cells == (list(CELLS) if n % 2 == 0 else list(CELLS)[::-1])


def test_the_progress_stream_is_a_quiz_generation_jobs_quiz_status_data() -> None:
    stream = protocols.progress_stream(60)
    assert len(stream) == 60
    for data in stream:
        assert set(data) == {"jobId", "quizId", "status", "progress", "message", "etaSeconds"}  # PROTOCOL.md 3
        assert data["status"] == "processing" and 10 <= data["progress"] <= 95
        assert data["message"].startswith(("Generating question ", "Generated "))
    assert [d["message"] for d in stream[:5]] == [
        "Generating question 1 of 50: choosing the key term",
        "Generating question 1 of 50: finding distractors",
        "Generating question 1 of 50: writing the question",
        "Generated 1 of 50 questions",
        "Generating question 2 of 50: choosing the key term",
    ]
    progress = [d["progress"] for d in stream]
    assert progress == sorted(progress) and len(set(progress)) > 1
    assert protocols.progress_stream(60) == stream  # the same payload for every cell and every run


def test_the_source_text_makes_a_50_question_quiz_with_4_options_on_the_multiple_choice_ones() -> None:
    from bench.quiz_source import ASTRONOMY
    from jobs import quiz

    analysis = quiz.analyse(ASTRONOMY)
    slots = quiz.plan_questions(analysis, protocols.QUIZ_QUESTIONS)
    assert len(slots) == protocols.QUIZ_QUESTIONS
    questions = [quiz.build_question(analysis, i, s, i) for i, s in enumerate(slots)]
    choices = [q for q in questions if q["type"] == "multiple_choice"]
    assert len(choices) >= 20 and all(len(q["options"]) == 4 for q in choices)
    assert all(q["explanation"] and q["prompt"] and q["answer"] for q in questions)


def test_a_client_decodes_text_frames_as_json_and_binary_frames_as_messagepack() -> None:
    text = envelope_json(3, "quiz_status", 1764547200.5, protocols.progress_stream(3)[1])
    as_json = batch_frame([text])
    as_msgpack = MsgpackFrames().batch([text], 0)
    assert decode(as_json) == decode(as_msgpack) == json.loads(as_json)
    assert decode(as_msgpack) == msgpack.unpackb(as_msgpack)


def test_server_encode_times_every_cell_and_messagepack_is_the_smaller_payload() -> None:
    found = protocols_micro.server_encode("quiz_status", protocols.progress_stream(10), 20)
    assert set(found) == set(CELLS)
    for figures in found.values():
        assert figures["first_us"] > 0 and figures["further_us"] > 0
    assert found["msgpack"]["payload_bytes"] < found["json"]["payload_bytes"]
    assert found["json"]["payload_bytes"] == found["json+deflate"]["payload_bytes"]  # before compression


def test_client_decode_inflates_only_where_deflate_is_on() -> None:
    found = protocols_micro.client_decode("quiz_status", protocols.progress_stream(3)[1], 20)
    assert set(found) == set(CELLS)
    assert found["json"]["inflate_us"] == found["msgpack"]["inflate_us"] == 0.0
    assert found["json+deflate"]["inflate_us"] > 0 and found["msgpack+deflate"]["inflate_us"] > 0


def _window(group: str, cell: str, n: int, bytes_: int, ingress: float) -> dict[str, Any]:
    return {
        "group": group,
        "cell": cell,
        "round": 0,
        "envelopes": n,
        "frames": n,
        "bytes": bytes_,
        "ingress_s": ingress,
        "client_cpu_s": 2 * ingress,
        "decode_s": ingress / 4,
    }


def test_figures_are_per_delivery_medians_and_ratios_are_against_json_with_the_same_compression() -> None:
    scale = {"json": 1.0, "json+deflate": 0.2, "msgpack": 0.8, "msgpack+deflate": 0.1}
    rows = [
        _window(f"one educator|{cell}", cell, 100, round(300 * factor * k), 0.003 * k)
        for cell, factor in scale.items()
        for k in (1, 2, 3)  # three rounds: the median is the middle one
    ]
    table = protocols_report.per_delivery(rows)
    cells = table["one educator"]
    assert cells["json"]["bytes"] == pytest.approx(6.0)
    assert cells["msgpack"]["bytes"] == pytest.approx(4.8)
    assert cells["json"]["ingress_us"] == pytest.approx(60.0)
    assert cells["json"]["rounds"] == 3
    x = protocols_report.ratios(table)["one educator"]
    assert x["json"]["bytes"] == pytest.approx(1.0)
    assert x["msgpack"]["bytes"] == pytest.approx(0.8)
    assert x["msgpack+deflate"]["bytes"] == pytest.approx(0.5)  # against JSON + deflate, not plain JSON


def test_the_report_writes_markdown_and_json(tmp_path: Path) -> None:
    stream = protocols.progress_stream(4)
    result_doc = {"quizId": "quiz-1", "numQuestions": 1, "questions": [{"id": "q1", "prompt": "Which?"}]}
    fan = [
        _window(f"{shape}|{cell}", cell, 10, 2000, 0.001) for shape in ("one educator", "2 educators") for cell in CELLS
    ]
    http = {
        k: {"bytes": 100, "deflated_bytes": 50, "decode_us": 1.0, "ingress_us_per_get": 900.0}
        for k in ("json", "msgpack")
    }
    result = {
        "plan": {
            "conns": 2,
            "messages": 5,
            "rate": 50,
            "rounds": 1,
            "large_conns": 1,
            "large_messages": 10,
            "large_rate": 40,
            "gets": 1,
        },
        "connections": 20,
        "job_s": 1.0,
        "idle_ingress_cpu_per_s": 0.004,
        "stream_sample": stream[1],
        "fanout": fan,
        "large": [_window(f"large|{cell}", cell, 10, 30000, 0.004) for cell in CELLS],
        "http": http,
        "micro": protocols_micro.micro(stream, result_doc),
        "seconds": 9.0,
    }
    out = tmp_path / "protocols.md"
    protocols_report.write(result, out)
    text = out.read_text()
    assert "## Fan-out: quiz_status progress" in text and "| one educator | MessagePack + deflate |" in text
    assert "| application/msgpack | 100 |" in text
    figures = json.loads(out.with_suffix(".json").read_text())
    assert figures["ratios"]["fanout"]["2 educators"]["msgpack"]["bytes"] == pytest.approx(1.0)
