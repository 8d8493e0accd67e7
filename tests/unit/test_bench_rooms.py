"""The rooms benchmark's pure parts (bench/rooms.py): the padding that makes both rows' envelopes the
same size, which envelopes it measures (and that the warm-up and presence messages are not), the
tally that ends a connection's reading, and the targets' ratios; a wrong one would compare
different payloads, or count what it should not."""

from __future__ import annotations

import pytest

from bench import rooms


@pytest.mark.parametrize("size", [160, 200, 201, 1000])
def test_padding_makes_the_data_exactly_the_size(size: int) -> None:
    for make in (
        lambda p: rooms.room_data("0123456789abcdef0123456789abcdef", 1764532800.123456, "ws", p),
        lambda p: rooms.room_data("http", 1764532800.5, "http", p),
        lambda p: rooms.stream_data(1764532800.25, p),
    ):
        assert len(rooms.compact(make(rooms.pad_for(make, size)))) == size


def test_padding_is_empty_when_the_data_is_already_larger() -> None:
    make = lambda p: {"long": "y" * 300, "p": p}  # noqa: E731
    assert rooms.pad_for(make, 200) == ""
    assert rooms.pad_for(make, len(rooms.compact(make("")))) == ""


def test_each_row_is_told_apart_and_the_rest_is_not_measured() -> None:
    def room(via: str) -> dict[str, object]:
        return {"type": "room_message", "room": rooms.ROOM, "data": {"event": "bench", "data": {"t": 5.5, "via": via}}}

    assert rooms.stamp_of(room("ws")) == (rooms.ROOM_WS, 5.5)
    assert rooms.stamp_of(room("http")) == (rooms.ROOM_HTTP, 5.5)
    assert rooms.stamp_of(room("warm")) is None
    note = {"type": "notification", "data": rooms.stream_data(7.25, "xx")}
    assert rooms.stamp_of(note) == (rooms.STREAM, 7.25)
    assert rooms.stamp_of({"type": "notification", "data": {**rooms.stream_data(7.25, ""), "title": "warm"}}) is None
    presence = {"type": "presence", "room": rooms.ROOM, "data": {"action": "join", "member": {}, "memberCount": 2}}
    assert rooms.stamp_of(presence) is None


def test_tally_counts_only_measured_envelopes_per_connection() -> None:
    tally = rooms.RowTally(expect=2)
    ws = {"type": "room_message", "data": {"event": "bench", "data": {"t": 1.0, "via": "ws"}}}
    presence = {"type": "presence", "data": {"action": "join"}}
    assert not tally.add(0, [presence, ws], now=1.25)
    assert not tally.add(1, [ws], now=1.5)
    assert tally.add(0, [ws], now=2.0)
    figures = tally.figures()
    assert figures["received"] == 3
    assert figures["latencies"] == {rooms.ROOM_WS: [0.25, 0.5, 1.0]}
    assert figures["sizes"] == {rooms.ROOM_WS: len(rooms.compact(ws["data"]))}


def test_ratios_are_the_targets_figures() -> None:
    row = {"p50": 10.0, "p99": 40.0}
    result = {
        "fanout": {"rows": {rooms.ROOM_WS: {"p50": 5.0, "p99": 60.0}, rooms.STREAM: row, rooms.ROOM_HTTP: row}},
        "presence": {"levels": {10: {"p99": 3.0}, 1000: {"p99": 45.0}, "watchers": {"p99": 99.0}}},
        "micro": {
            "10": {"listed_1000": {"join_us": 10.0}, "listed_1": {"join_us": 8.0}},
            "10000": {"listed_1000": {"join_us": 500.0}, "listed_1": {"join_us": 8.8}},
        },
    }
    r = rooms.ratios(result)
    assert r["room_ws_p99_vs_stream"] == 1.5
    assert r["room_ws_p50_vs_stream"] == 0.5
    assert r["room_http_p99_vs_stream"] == 1.0
    assert r["joined_p99_ms_worst"] == 45.0
    assert r["shard_join_large_vs_small_listed_1000"] == 50.0
    assert r["shard_join_large_vs_small_listed_1"] == pytest.approx(1.1)


def test_quick_plan_reaches_a_thousand_members() -> None:
    for quick in (True, False):
        windows = rooms.plan(quick)["windows"]
        assert max(windows) == 1000
        assert all(0 < joins <= level for level, joins in windows.items())
