"""Rooms (issue 16's targets, PROTOCOL.md section 7), against a baseline measured in the same run on
the same hub:

1. Fan-out: a room message from one member reaches RECEIVERS other members' connections; p99 <= 2 x
   that of an educator-stream message of the same size at the same rate. Baseline: RECEIVERS
   connections of ONE educator getting a `notification` from `POST /api/publish` (service token).
   That is the room's own path: one envelope in one stream at one shard, the publish entering
   through the ingress (which calls the shard over the data plane, as a WebSocket `publish` does),
   one feed pull, the ingress writing it to RECEIVERS sockets. (A publish to 100 educators would be
   100 envelopes at the shard, a heavier path than the room's.) A third row, the room message
   posted by `POST /api/rooms/{room}/publish`, enters the same way as the baseline, so the first
   hop's share (a WebSocket frame against an HTTP request) shows. The three alternate in rounds
   (the machine is shared), each at RATE messages a second, each envelope's `data` SIZE bytes of
   JSON; latency is from the time the message was due (bench.common.offer) to its arrival.
2. Presence: 1,000 members (distinct educators, one connection each) join one room; `join` ->
   `joined` latency in windows of joins made one after another (JOIN_RATE a second) ending at 10,
   100, 500 and 1,000 members (the members in between join concurrently), and the hub's CPU per
   join in each window (the registry shard and the ingress, bench.common.RoleCpu); then 20
   watchers (`presence: false`: the same `joined`, but no `presence` message to the others) at
   1,000 members. Plus an in-process microbenchmark of the pure shard
   (actors.registry.RegistryShard.room_join_many, no Ray): the time of one join at 10 to 10,000
   members, with the `joined` answer listing 1,000 members (the default) and 1 (Settings
   `room_members_listed`), and its MessagePack reply (hub.core.wire), so the share of the members
   list is visible.

    python bench/rooms.py --quick      # what `make bench` runs (bench/run.py)
    python bench/rooms.py              # more rounds, longer windows of timed joins
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.clients import greeted_hub, open_hub, start_clients  # noqa: E402
from bench.common import INGRESS, SECRET, RoleCpu, offer, percentiles_ms, report, run_alone  # noqa: E402

ROOM = "bench:fanout"
PRESENCE_ROOM = "bench:presence"
RECEIVERS = 100  # connections each fan-out message reaches (the target's 100 other members)
RATE = 20.0  # messages a second, each kind (a member's publish and typing ops are limited to 20/s)
SIZE = 200  # bytes of each delivered envelope's `data`, as compact JSON
STREAM_EDUCATOR = "bench-stream"
PUBLISHER = "bench-room-pub"
ROOM_WS, ROOM_HTTP, STREAM = "room, WebSocket publish", "room, HTTP publish", "educator stream, HTTP publish"
HUB_ENV = {"HUB_MAX_CONNECTIONS_PER_TOKEN": str(RECEIVERS)}  # the baseline's one educator holds RECEIVERS
JOIN_RATE = 10.0  # the timed presence joins a second (a lecture room of 1,000 filling in under 2 minutes)
SHARD = "registry shard"


def compact(value: Any) -> str:
    """JSON as the hub writes it (no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def pad_for(make: Callable[[str], Any], size: int) -> str:
    """The padding (a run of "x") that makes `compact(make(padding))` `size` characters long (ASCII:
    bytes), or "" when `make("")` is already that long or longer."""
    return "x" * max(0, size - len(compact(make(""))))


def room_data(session: str, stamp: float, via: str, pad: str) -> dict[str, Any]:
    """A room_message envelope's `data` as the shard builds it (PROTOCOL.md section 7) around what the
    publisher sends: `{"t": stamp, "via": via, "p": pad}` (`session` "http" over HTTP)."""
    who = PUBLISHER if session != "http" else "bench-service"
    return {
        "event": "bench",
        "data": {"t": stamp, "via": via, "p": pad},
        "from": {"educatorId": who, "session": session},
    }


def stream_data(stamp: float, pad: str) -> dict[str, Any]:
    """A notification envelope's `data` as the hub fills it in (id, level, broadcast) around what the
    service posts: title, and `body` = "<stamp> <pad>"."""
    return {"id": "n-0123456789ab", "level": "info", "title": "bench", "body": f"{stamp!r} {pad}", "broadcast": False}


def stamp_of(env: dict[str, Any]) -> tuple[str, float] | None:
    """(which row, when it was due) of a measured envelope; None for any other (presence, warm-up)."""
    data = env.get("data") or {}
    if env.get("type") == "room_message":
        inner = data.get("data") or {}
        row = {"ws": ROOM_WS, "http": ROOM_HTTP}.get(inner.get("via"))  # "warm": the warm-up's
        return None if row is None else (row, float(inner["t"]))
    if env.get("type") == "notification" and data.get("title") == "bench":
        return STREAM, float(str(data["body"]).split(" ", 1)[0])
    return None


class RowTally:
    """Counts each connection's measured envelopes (stamp_of) up to `expect`; keeps every latency by
    row, and the `data` size of each row's first envelope."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.counts: dict[int, int] = {}
        self.latencies: dict[str, list[float]] = {}
        self.sizes: dict[str, int] = {}

    def add(self, conn: int, messages: list[dict[str, Any]], now: float) -> bool:
        n = self.counts.get(conn, 0)
        for m in messages:
            found = stamp_of(m)
            if found is None:
                continue
            row, stamp = found
            n += 1
            self.latencies.setdefault(row, []).append(now - stamp)
            self.sizes.setdefault(row, len(compact(m["data"])))
        self.counts[conn] = n
        return n >= self.expect

    def figures(self) -> dict[str, Any]:
        return {"received": sum(self.counts.values()), "latencies": self.latencies, "sizes": self.sizes}


def fanout(base: str, pid: int, rounds: int, seconds: float, procs: int = 2) -> dict[str, Any]:
    """Target 1: `rounds` rounds of the three rows, each `seconds` long at RATE (module docstring)."""
    from hub.auth import issue_token

    now = time.time()
    url = base.replace("http", "ws", 1) + "/ws"
    service = issue_token(SECRET, "bench-service", role="service", ttl=3600, now=now)
    members = [issue_token(SECRET, f"bench-member-{i}", ttl=3600, now=now, rooms=[ROOM]) for i in range(RECEIVERS)]
    stream = [issue_token(SECRET, STREAM_EDUCATOR, ttl=3600, now=now)] * RECEIVERS
    per_row = round(RATE * seconds)
    timeout = rounds * 3 * (seconds + 1) + 60
    hello = {"rooms": [{"room": ROOM}]}
    room_ready, room_go, room_collect = start_clients(
        url, members, False, RowTally(2 * rounds * per_row), timeout, procs, hello
    )
    stream_ready, stream_go, stream_collect = start_clients(
        url, stream, False, RowTally(rounds * per_row), timeout, procs
    )
    publisher_token = issue_token(SECRET, PUBLISHER, ttl=3600, now=now, rooms=[ROOM])
    errors: list[dict[str, Any]] = []
    acks = [0]

    async def run() -> dict[str, float]:
        ws, welcome = await greeted_hub(url, publisher_token, {"rooms": [{"room": ROOM}]})  # joins last
        session = str(welcome["session"])

        async def read() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("op") == "ack":
                    acks[0] += 1
                elif frame.get("op") == "error":
                    errors.append(frame)

        reader = asyncio.ensure_future(read())
        room_pad = pad_for(lambda p: room_data(session, time.time(), "ws", p), SIZE)
        http_pad = pad_for(lambda p: room_data("http", time.time(), "http", p), SIZE)
        stream_pad = pad_for(lambda p: stream_data(time.time(), p), SIZE)
        auth = {"Authorization": f"Bearer {service}"}
        room_go.set()
        stream_go.set()
        await asyncio.sleep(1.0)  # the clients drain their backlogs (the members' presence joins)
        took: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=auth) as http:

            async def via_ws(i: int, stamp: float, warm: bool = False) -> None:
                data = {"t": stamp, "via": "warm" if warm else "ws", "p": room_pad}
                await ws.send(compact({"op": "publish", "room": ROOM, "event": "bench", "data": data, "id": i}))

            async def via_http(i: int, stamp: float, warm: bool = False) -> None:
                data = {"event": "bench", "data": {"t": stamp, "via": "warm" if warm else "http", "p": http_pad}}
                reply = await http.post(f"/api/rooms/{ROOM}/publish", json=data)
                assert reply.status_code == 202, reply.text

            async def to_stream(i: int, stamp: float, warm: bool = False) -> None:
                data = {"title": "warm" if warm else "bench", "body": f"{stamp!r} {stream_pad}"}
                body = {"type": "notification", "educatorIds": [STREAM_EDUCATOR], "data": data}
                reply = await http.post("/api/publish", json=body)
                assert reply.status_code == 202, reply.text

            sends = [(ROOM_WS, via_ws), (STREAM, to_stream), (ROOM_HTTP, via_http)]
            for _, send in sends:  # a second of each, not measured: every path warm before the first row
                await offer(partial(send, warm=True), round(RATE), RATE)
            await asyncio.sleep(0.5)
            for n in range(rounds):
                for row, send in sends[n % 3 :] + sends[: n % 3]:  # each round starts with another row
                    t0 = time.time()
                    await offer(send, per_row, RATE)
                    took[row] = took.get(row, 0.0) + time.time() - t0
                    await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        reader.cancel()
        await ws.close()
        return took

    with RoleCpu(pid) as cpu:
        took = asyncio.run(run())
        results = room_collect() + stream_collect()
    latencies: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for r in results:
        for row, values in r["latencies"].items():
            latencies.setdefault(row, []).extend(values)
        sizes.update(r["sizes"])
    rows = {
        row: {
            "messages": rounds * per_row,
            "expected": rounds * per_row * RECEIVERS,
            "received": len(latencies.get(row, [])),
            "data_bytes": sizes.get(row),
            "offer_s": took.get(row),
            **percentiles_ms(latencies.get(row, []), (0.5, 0.99)),
        }
        for row in (ROOM_WS, STREAM, ROOM_HTTP)
    }
    return {
        "connections": {"room members": room_ready, "stream": stream_ready},
        "rounds": rounds,
        "seconds": seconds,
        "rate": RATE,
        "rows": rows,
        "acks": acks[0],
        "errors": errors[:5],
        "cpu_s": cpu.by_role,
    }


def hold(url: str, tokens: list[str], hello: dict[str, Any], ready: Any, stop: Any) -> None:
    """A process that holds one connection per token (each hello with `hello`), says how many on
    `ready`, and reads (and drops) whatever arrives on them until `stop` is set."""

    async def run() -> None:
        sockets: list[Any] = []
        for start in range(0, len(tokens), 50):
            sockets += await asyncio.gather(*(open_hub(url, t, hello) for t in tokens[start : start + 50]))
        ready.put(len(sockets))

        async def drain(ws: Any) -> None:
            async for _ in ws:
                pass

        readers = [asyncio.ensure_future(drain(ws)) for ws in sockets]
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        for r in readers:
            r.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(run())


async def quiet(pid: int, share: float = 0.2, sample: float = 0.25, longest: float = 15.0) -> float:
    """Wait until the ingress of `hub serve` process `pid` uses under `share` of a core over a
    `sample`-second window (a room's fill still being delivered would be in the timed joins), at most
    `longest` seconds; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < longest:
        with RoleCpu(pid, frozenset({INGRESS})) as cpu:
            await asyncio.sleep(sample)
        if cpu.seconds < share * sample:
            break
    return time.monotonic() - started


async def presence(base: str, pid: int, windows: dict[int, int], join_rate: float) -> dict[str, Any]:
    """Target 2 on the live hub: max(windows) educators, one connection each, in PRESENCE_ROOM. For
    each level L (windows: {L: w}) a process of its own (`hold`, reading everything) joins the room
    with the members that bring it to L - w (hello.rooms, concurrently), then this process joins w
    more one after another, `join_rate` a second, each timed from its `join` to its `joined`, with
    the hub's CPU over those w joins (RoleCpu: the shard and the ingress, per join; `each_ms`: every
    join's latency in order). The members who joined stay, reading what they are sent (the `presence`
    message of every later join). Then up to 20 watchers (`presence: false`) join the same way (the
    "watchers" entry)."""
    import multiprocessing as mp

    from hub.auth import issue_token

    url = base.replace("http", "ws", 1) + "/ws"
    now = time.time()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    holders: list[Any] = []
    mine: list[Any] = []  # this process's members (the timed joins)
    frames = [0]
    waiting: list[asyncio.Future[dict[str, Any]]] = []

    def token(i: int, kind: str = "p") -> str:
        return issue_token(SECRET, f"bench-{kind}-{i}", ttl=3600, now=now, rooms=[PRESENCE_ROOM])

    async def read(ws: Any) -> None:
        async for raw in ws:
            frames[0] += 1
            if waiting and (raw.startswith('{"op":"joined"') or raw.startswith('{"op":"error"')):
                future = waiting.pop()
                if not future.done():
                    future.set_result(json.loads(raw))

    async def timed(sockets: list[Any], present: bool) -> dict[str, Any]:
        """Each of `sockets` joins (`presence`: `present`), one after another at `join_rate`."""
        readers.extend(asyncio.ensure_future(read(ws)) for ws in sockets)
        mine.extend(sockets)
        settled = await quiet(pid)  # the fill's presence messages delivered
        spent: list[float] = []
        answer: dict[str, Any] = {}
        loop = asyncio.get_running_loop()
        with RoleCpu(pid, frozenset({SHARD, INGRESS})) as cpu:
            start = time.perf_counter()
            for k, ws in enumerate(sockets):
                await asyncio.sleep(max(0.0, start + k / join_rate - time.perf_counter()))
                future = loop.create_future()
                waiting.append(future)
                t0 = time.perf_counter()
                await ws.send(compact({"op": "join", "room": PRESENCE_ROOM, "presence": present}))
                answer = await future
                spent.append(time.perf_counter() - t0)
                assert answer["op"] == "joined", answer
        return {
            "joins": len(sockets),
            "member_count_last": answer["memberCount"],
            "members_listed_last": len(answer["members"]),
            **percentiles_ms(spent, (0.5, 0.99)),
            "max": 1000 * max(spent),
            "shard_ms_per_join": 1000 * cpu.by_role.get(SHARD, 0.0) / len(sockets),
            "ingress_ms_per_join": 1000 * cpu.by_role.get(INGRESS, 0.0) / len(sockets),
            "each_ms": [round(1000 * x, 1) for x in spent],
            "settled_s": settled,
        }

    out: dict[int | str, dict[str, Any]] = {}
    members = 0
    readers: list[Any] = []
    try:
        for level in sorted(windows):
            window = windows[level]
            fill = [token(i) for i in range(members, level - window)]
            if fill:
                ready = ctx.Queue()
                holder = ctx.Process(target=hold, args=(url, fill, {"rooms": [{"room": PRESENCE_ROOM}]}, ready, stop))
                holder.start()
                holders.append(holder)
                assert await asyncio.get_running_loop().run_in_executor(None, ready.get, True, 300) == len(fill)
            members = level - window
            fresh = await asyncio.gather(*(open_hub(url, token(i)) for i in range(members, level)))
            out[level] = await timed(fresh, True)
            members = level
        watchers = await asyncio.gather(*(open_hub(url, token(i, "w")) for i in range(min(20, windows[members]))))
        out["watchers"] = await timed(watchers, False)
    finally:
        stop.set()
        for r in readers:
            r.cancel()
        await asyncio.gather(*(ws.close() for ws in mine), return_exceptions=True)
        for holder in holders:
            holder.join(timeout=30)
    return {"members": members, "join_rate": join_rate, "levels": out, "frames_read_by_joiners": frames[0]}


def shard_microbench(sizes: tuple[int, ...] = (10, 100, 1000, 10_000), joins: int = 300) -> dict[str, Any]:
    """Target 2's O(1) claim on the pure shard (no Ray, no sockets): for each room size n, `joins`
    joins of a new member each timed (room_join_many, one request), its `joined` reply packed as the
    data plane sends it (hub.core.wire), and the member's leave (room_leave_many) to keep the size at n;
    with the answer listing up to 1,000 members (the default) and 1. Figures: the median microseconds of
    this thread's CPU (time.thread_time: a busy machine does not count) a join, and the mean join
    (with Python's garbage collections, whose full passes cost O(objects) but come less often the
    more objects there are)."""
    from actors.registry import RegistryShard
    from hub.core import wire
    from hub.core.config import ShardConfig

    def one(n: int, listed: int) -> dict[str, float]:
        shard = RegistryShard(0, ShardConfig(room_members_listed=1), time.monotonic)  # filled listing 1

        async def go() -> dict[str, float]:
            await shard.attach("ing", [])
            for start in range(0, n, 1000):
                await shard.room_join_many(
                    "ing",
                    [(PRESENCE_ROOM, f"s{i}", f"e{i}", True, None, None) for i in range(start, min(n, start + 1000))],
                )
            shard.config = ShardConfig(room_members_listed=listed)
            spent: dict[str, list[float]] = {"join_us": [], "pack_us": [], "leave_us": []}
            for k in range(joins):
                request = (PRESENCE_ROOM, f"new{k}", f"new-{k}", True, None, None)
                t0 = time.thread_time()
                replies = await shard.room_join_many("ing", [request])
                t1 = time.thread_time()
                wire.reply(1, wire.room_joins_out(replies))
                t2 = time.thread_time()
                await shard.room_leave_many("ing", [(PRESENCE_ROOM, f"new{k}")])
                t3 = time.thread_time()
                for key, took in zip(spent, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    spent[key].append(1e6 * took)
            return {
                **{key: statistics.median(values) for key, values in spent.items()},
                "join_us_mean": statistics.fmean(spent["join_us"]),
            }

        return asyncio.run(go())

    return {str(n): {"listed_1000": one(n, 1000), "listed_1": one(n, 1)} for n in sizes}


def plan(quick: bool) -> dict[str, Any]:
    """Sizes: fan-out rounds and seconds a row, presence windows ({level: joins one after another}),
    microbenchmark joins a size. Quick: about a minute on 2 cores; full: longer."""
    if quick:
        return {"rounds": 2, "seconds": 3.0, "windows": {10: 10, 100: 20, 500: 30, 1000: 50}, "micro_joins": 200}
    return {"rounds": 5, "seconds": 5.0, "windows": {10: 10, 100: 90, 500: 100, 1000: 200}, "micro_joins": 1000}


def measure(base: str, pid: int, quick: bool) -> dict[str, Any]:
    """Both targets on the hub at `base` (`hub serve` process `pid`, started with HUB_ENV), then the
    shard microbenchmark in this process."""
    p = plan(quick)
    started = time.time()
    out = {"fanout": fanout(base, pid, p["rounds"], p["seconds"])}
    out["presence"] = asyncio.run(presence(base, pid, p["windows"], JOIN_RATE))
    out["micro"] = shard_microbench(joins=p["micro_joins"])
    out["seconds"] = time.time() - started
    return out


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """The targets' figures: room p99 / educator-stream p99 (WebSocket and HTTP publishes), the worst
    `joined` p99 (ms), and the shard's per-join time at the largest microbenchmark size / the
    smallest, with 1,000 and with 1 member listed."""
    rows = result["fanout"]["rows"]
    micro = result["micro"]
    small, large = min(micro, key=int), max(micro, key=int)
    return {
        "room_ws_p99_vs_stream": rows[ROOM_WS]["p99"] / rows[STREAM]["p99"],
        "room_http_p99_vs_stream": rows[ROOM_HTTP]["p99"] / rows[STREAM]["p99"],
        "room_ws_p50_vs_stream": rows[ROOM_WS]["p50"] / rows[STREAM]["p50"],
        "joined_p99_ms_worst": max(v["p99"] for k, v in result["presence"]["levels"].items() if k != "watchers"),
        "shard_join_large_vs_small_listed_1000": micro[large]["listed_1000"]["join_us"]
        / micro[small]["listed_1000"]["join_us"],
        "shard_join_large_vs_small_listed_1": micro[large]["listed_1"]["join_us"] / micro[small]["listed_1"]["join_us"],
    }


def write(result: dict[str, Any], out: Path) -> None:
    """The report (Markdown, and its figures as JSON) for `measure`'s result."""
    fan, pres, micro = result["fanout"], result["presence"], result["micro"]
    r = ratios(result)
    lines = [
        f"# Rooms ({time.strftime('%Y-%m-%d %H:%M')}, issue 16's targets)",
        "",
        f"Fan-out: {RECEIVERS} receiving connections a message, {fan['rate']:g} messages/s for {fan['seconds']:g} s "
        f"a row, the three rows in turn, {fan['rounds']} rounds; latency from the time each message was due.",
        "",
        "| row | delivered | `data` bytes | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {row['received']}/{row['expected']} | {row['data_bytes']} | {row['p50']:.1f} | "
            f"{row['p99']:.1f} |"
            for name, row in fan["rows"].items()
        ),
        "",
        f"- room (WebSocket publish) p99 / educator stream p99: **{r['room_ws_p99_vs_stream']:.2f}** (target <= 2); "
        f"p50 {r['room_ws_p50_vs_stream']:.2f}",
        "- room (HTTP publish, the baseline's own entry) p99 / educator stream p99: "
        f"{r['room_http_p99_vs_stream']:.2f}",
        f"- publisher: {fan['acks']} acks, errors {fan['errors'] or 'none'}; hub CPU over the fan-out (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(fan["cpu_s"].items()) if v >= 0.01),
        "",
        f"Presence: {pres['members']} educators, one connection each, join one room; at each level the last joins "
        f"go one after another, {pres['join_rate']:g} a second (the ones before concurrently, from another process), "
        "each timed from `join` to `joined`; every member reads what it is sent.",
        "",
        "| members at the end | joins timed | members listed in the last `joined` | p50 ms | p99 ms | max ms | "
        "shard CPU ms / join | ingress CPU ms / join |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {level if level != 'watchers' else 'the same, watchers joining'} | {v['joins']} | "
            f"{v['members_listed_last']} | {v['p50']:.1f} | {v['p99']:.1f} | "
            f"{v['max']:.1f} | {v['shard_ms_per_join']:.2f} | {v['ingress_ms_per_join']:.2f} |"
            for level, v in pres["levels"].items()
        ),
        "",
        f"- worst `joined` p99 of a present member: **{r['joined_p99_ms_worst']:.1f} ms** (target <= 50)",
        "- watchers (`presence: false`) get the same `joined`, members list included, but their join sends no "
        "`presence` message to the others: the ingress CPU between the last two rows is that message's fan-out "
        "to every member (the joiner's `joined` goes before it: Relay._answers_first).",
        "",
        "The pure shard (RegistryShard.room_join_many in this process, no Ray): CPU microseconds of a join into a "
        "room of n members (median; mean with Python's garbage collections), its `joined` reply packed for the data "
        "plane, and the leave that follows.",
        "",
        "| n members | members listed | join µs | join µs, mean | pack µs | leave µs |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | {listed} | {v[key]['join_us']:.1f} | {v[key]['join_us_mean']:.1f} | {v[key]['pack_us']:.1f} | "
            f"{v[key]['leave_us']:.1f} |"
            for listed, key in (("1,000", "listed_1000"), ("1", "listed_1"))
            for n, v in micro.items()
        ),
        "",
        f"- a join at the largest size / the smallest (medians): {r['shard_join_large_vs_small_listed_1000']:.2f} with "
        f"1,000 members listed, **{r['shard_join_large_vs_small_listed_1']:.2f}** with 1 (O(1): about 1)",
        "",
    ]
    report(lines, out, {**result, "ratios": r})


def main() -> None:
    run_alone(__doc__, "rooms.md", HUB_ENV, measure, write)


if __name__ == "__main__":
    main()
