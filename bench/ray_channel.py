"""CPU per message, and latency, of the channels a shard could feed an ingress by, between a Ray
actor and the driver: one actor call per message (the relay's long-poll at light load), one item of
a Ray streaming generator, plain TCP (length-prefixed pickles, outside Ray, no acknowledgements,
kept for scale), and the data-plane candidates of issue 15 (DESIGN.md, "The data path"), each an
acknowledged feed served by the actor (as a shard serves its feeds) with msgpack messages:

- ZeroMQ (pyzmq, zmq.asyncio), ROUTER in the actor (ROUTER_MANDATORY: a ROUTER otherwise drops
  what passes the high-water mark without a word), DEALER in the driver; without and with CURVE
  (server keypair from zmq.curve_keypair(); the driver knows the actor's public key; a ZAP
  authenticator in the actor allows the driver's client key only);
- the websockets library, server in the actor, binary frames, permessage-deflate off, a short-lived
  HS256 JWT (PyJWT) in the Authorization header checked before the upgrade; without and with TLS
  (a self-signed certificate made at run time with `cryptography`, trusted by the driver).

And the hub's own feed, with its real classes (the rows named hub-*): a RegistryShardActor (subclassed
only to add a task that calls its `publish_message` for one watched educator every `gap` seconds,
as a job's publishes would) and, in the driver, an actors.handles.ShardClient pulling its feed as
hub.ingress.relay does (pull(ingress, ack, timeout, feed) with the previous pull's ack, batching
what arrived meanwhile): over the shard's data plane (the loopback port: same node), over it with
TLS forced (DataPlaneConfig(dataplane_tls="always"): the node address, as between nodes), and over
Ray calls (dataplane off: the hub before the data plane). Their actor CPU includes the shard's own
work per message (publish_message: the stream, the feed); "x call" still compares with the bare
actor-call row, and a second table compares the data-plane rows with the hub's own Ray row.

    python bench/ray_channel.py [--messages 1000] [--gap 0.005 [0 ...]] [--runs 1] [--rows ROW ...]
    python bench/ray_channel.py --rows call ws hub-ws hub-wss hub-ray --runs 2   # the hub's feed

Each message is a pull-shaped reply with one envelope (the envelope's time is stamped when the actor
builds it). On the feeds the driver acknowledges every message (a msgpack seq back) and the window
ends when the actor has read the last acknowledgement; connections are made and authenticated
before the window (the plain TCP row connects inside it, as before). CPU is the caller's and the
actor's process (user + system, Ray's threads included) divided by the messages, in microseconds;
"x call" is the total against the actor-call row of the same run and gap. The idle row is what
the two processes (Ray's threads) spend doing nothing for as long as a row at that gap lasts, per
message: part of every row, and the floor none of them can go under. Latency is from the actor
building a message to the driver having decoded it (one clock: same machine). With --runs N every
row runs N times, the rows alternating within each round. CPU is read in 10 ms clock ticks: back
to back (--gap 0) use --messages 20000. Figures and the choice they led to: docs/benchmarks.md,
"Data-plane transports".
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pickle
import pstats
import ssl
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import cpu_seconds, init_local_ray, self_signed_tls  # noqa: E402

IDLE, CALL, STREAM, TCP, ZMQ, ZMQ_CURVE, WS, WS_TLS = "idle call stream tcp zmq zmq-curve ws ws-tls".split()
HUB_WS, HUB_WSS, HUB_RAY = "hub-ws hub-wss hub-ray".split()
HUB_ROWS = (HUB_WS, HUB_WSS, HUB_RAY)
ROWS = (IDLE, CALL, STREAM, TCP, ZMQ, ZMQ_CURVE, WS, WS_TLS, *HUB_ROWS)
LABELS = {
    IDLE: "idle: nothing sent, same window (messages x gap)",
    CALL: "actor call per message",
    STREAM: "streaming generator item",
    TCP: "plain TCP, pickles, no acks (outside Ray)",
    ZMQ: "zmq ROUTER/DEALER, msgpack, acked",
    ZMQ_CURVE: "zmq + CURVE (ZAP: hub's client key only)",
    WS: "websockets, JWT, no TLS, no deflate",
    WS_TLS: "websockets, JWT + TLS, no deflate",
    HUB_WS: "hub: shard feed -> ShardClient, data plane (loopback)",
    HUB_WSS: "hub: shard feed -> ShardClient, data plane, TLS forced",
    HUB_RAY: "hub: shard feed -> ShardClient, Ray calls (dataplane off)",
}
NAMESPACE = "bench-ray-channel"
AUDIENCE = "hub-dataplane"

Send = Callable[[bytes], Awaitable[Any]]
Recv = Callable[[], Awaitable[bytes]]


def reply(seq: int) -> dict[str, Any]:
    return {"epoch": "e", "items": [(seq, ("alice", "e", seq, "notification", time.time(), {"x": 1}, None))]}


def stamp_of(message: dict[str, Any]) -> float:
    """The time the actor built a reply (its envelope's time field)."""
    return float(message["items"][-1][1][4])


async def feed(send: Send, recv: Recv) -> None:
    """The actor's side of one acknowledged feed: answer the hello, then on ["go", count, gap] push
    `count` replies `gap` seconds apart while reading acknowledgements, and say "end" once the last
    one is acknowledged."""
    assert msgpack.unpackb(await recv()) == "hello"
    await send(msgpack.packb("ready"))
    _, count, gap = msgpack.unpackb(await recv())

    async def acks() -> None:
        last = 0
        while last < count:
            last = msgpack.unpackb(await recv())

    reader = asyncio.ensure_future(acks())
    for i in range(count):
        await asyncio.sleep(gap)
        await send(msgpack.packb(reply(i + 1)))
    await reader
    await send(msgpack.packb("end"))


async def hello(send: Send, recv: Recv) -> None:
    """The driver's side of the handshake before the window (auth and TLS are done by then)."""
    await send(msgpack.packb("hello"))
    assert msgpack.unpackb(await recv()) == "ready"


async def take(send: Send, recv: Recv, count: int, gap: float) -> list[float]:
    """The driver's side of the window: start the feed, decode and acknowledge every message until
    "end"; returns each message's latency in seconds."""
    await send(msgpack.packb(["go", count, gap]))
    latencies = []
    while (message := msgpack.unpackb(await recv())) != "end":
        latencies.append(time.time() - stamp_of(message))
        await send(msgpack.packb(message["items"][-1][0]))
    return latencies


class AllowOne:
    """ZAP credentials provider: allows the one client public key (Z85) it is given."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.key


async def over_tcp(shard: Any, messages: int, gap: float) -> list[float]:
    """Have the actor push `messages` replies to a server in this process over plain TCP."""
    received: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()

    async def take_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        latencies = []
        for _ in range(messages):
            size = int.from_bytes(await reader.readexactly(4), "big")
            latencies.append(time.time() - stamp_of(pickle.loads(await reader.readexactly(size))))
        writer.close()
        received.set_result(latencies)

    server = await asyncio.start_server(take_tcp, "127.0.0.1", 0)
    pushed = shard.push.remote(server.sockets[0].getsockname()[1], messages, gap)
    latencies = await received
    await pushed
    server.close()
    return latencies


def make_shard() -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class Shard:
        def __init__(self) -> None:
            self.closers: list[Callable[[], Awaitable[Any]]] = []

        async def pid(self) -> int:
            return os.getpid()

        async def pull(self, ack: int) -> dict[str, Any]:
            return reply(ack + 1)

        async def stream(self, count: int, gap: float) -> Any:
            for i in range(count):
                await asyncio.sleep(gap)
                yield reply(i + 1)

        async def push(self, port: int, count: int, gap: float) -> None:
            """The same replies over a plain TCP connection (length-prefixed pickles)."""
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(count):
                await asyncio.sleep(gap)
                data = pickle.dumps(reply(i + 1))
                writer.write(len(data).to_bytes(4, "big") + data)
            await writer.drain()
            writer.close()

        async def serve_zmq(self, curve: tuple[bytes, bytes, bytes] | None) -> int:
            """Bind a ROUTER on 127.0.0.1 and serve one feed on it; `curve` is (server public key,
            server secret key, the one client public key allowed), all Z85. Returns the port."""
            import zmq
            import zmq.asyncio
            from zmq.auth.asyncio import AsyncioAuthenticator

            ctx = zmq.asyncio.Context()
            auth = None
            if curve:
                auth = AsyncioAuthenticator(ctx)
                auth.start()
                auth.configure_curve_callback("*", credentials_provider=AllowOne(curve[2]))
            sock = ctx.socket(zmq.ROUTER)
            sock.linger = 0
            # Without it a ROUTER drops what it cannot queue (past the peer's high-water mark, 1,000
            # messages by default, or to a peer not connected) without a word; with it, send waits.
            sock.router_mandatory = True
            if curve:
                sock.curve_server = True
                sock.curve_publickey, sock.curve_secretkey = curve[0], curve[1]
            port = sock.bind_to_random_port("tcp://127.0.0.1")
            peer: list[bytes] = []

            async def recv() -> bytes:
                identity, data = await sock.recv_multipart()
                peer[:] = [identity]
                return bytes(data)

            async def send(data: bytes) -> None:
                await sock.send_multipart([peer[0], data])

            async def close() -> None:
                sock.close()
                if auth:
                    auth.stop()
                ctx.term()

            self.serving = asyncio.ensure_future(feed(send, recv))
            self.closers.append(close)
            return int(port)

        async def serve_ws(self, secret: str, tls: tuple[str, str] | None) -> int:
            """Serve one feed with the websockets library on 127.0.0.1: the JWT in the opening
            request's Authorization header is checked (HS256, `secret`) before the upgrade; `tls` is
            (certificate path, key path). Returns the port."""
            from http import HTTPStatus

            import jwt
            from websockets.asyncio.server import ServerConnection, serve
            from websockets.http11 import Request, Response

            def check(connection: ServerConnection, request: Request) -> Response | None:
                token = request.headers.get("Authorization", "").removeprefix("Bearer ")
                try:
                    jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE)
                except jwt.InvalidTokenError:
                    return connection.respond(HTTPStatus.UNAUTHORIZED, "A valid data-plane token is required.\n")
                return None

            async def handler(ws: ServerConnection) -> None:
                async def recv() -> bytes:
                    data = await ws.recv()
                    assert isinstance(data, bytes), "binary frames only"
                    return data

                await feed(ws.send, recv)

            context = None
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*tls)
            server = await serve(handler, "127.0.0.1", 0, process_request=check, compression=None, ssl=context)

            async def close() -> None:
                server.close()
                await server.wait_closed()

            self.closers.append(close)
            return int(server.sockets[0].getsockname()[1])

        async def close(self) -> None:
            while self.closers:
                await self.closers.pop()()

    return Shard.remote()  # type: ignore[attr-defined]


async def over_zmq(shard: Any, curve: bool, messages: int, gap: float) -> Callable[[], Awaitable[list[float]]]:
    """Connect a DEALER to the actor's ROUTER (with CURVE: a fresh server and client keypair, the
    actor told the server's and the allowed client key as the control plane would) and say hello;
    returns the window to run."""
    import zmq
    import zmq.asyncio

    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    keys = None
    if curve:
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = client_public, client_secret, server_public
        keys = (server_public, server_secret, client_public)
    port = await shard.serve_zmq.remote(keys)
    sock.connect(f"tcp://127.0.0.1:{port}")

    async def recv() -> bytes:
        return bytes(await sock.recv())

    await hello(sock.send, recv)

    async def window() -> list[float]:
        try:
            return await take(sock.send, recv, messages, gap)
        finally:
            sock.close()
            ctx.term()
            await shard.close.remote()

    return window


async def over_ws(shard: Any, tls: bool, messages: int, gap: float) -> Callable[[], Awaitable[list[float]]]:
    """Connect to the actor's websockets server with a JWT (60 s) signed by a run-time secret (and
    TLS, trusting the run-time certificate) and say hello; returns the window to run."""
    import secrets

    import jwt
    from websockets.asyncio.client import connect

    secret = secrets.token_urlsafe(32)
    token = jwt.encode({"sub": "ingress-0", "aud": AUDIENCE, "exp": int(time.time()) + 60}, secret, "HS256")
    directory = tempfile.mkdtemp()
    files: tuple[str, str] | None = None
    if tls:
        cert, key = self_signed_tls(directory)
        files = (str(cert), str(key))
    port = await shard.serve_ws.remote(secret, files)
    context = ssl.create_default_context(cafile=files[0]) if files else None
    scheme = "wss" if tls else "ws"
    ws = await connect(
        f"{scheme}://127.0.0.1:{port}",
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        ssl=context,
    )

    async def recv() -> bytes:
        data = await ws.recv()
        assert isinstance(data, bytes), "binary frames only"
        return data

    await hello(ws.send, recv)

    async def window() -> list[float]:
        try:
            return await take(ws.send, recv, messages, gap)
        finally:
            await ws.close()
            await shard.close.remote()
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)

    return window


def make_hub_shard(db_path: str, feed_linger: float | None = None) -> tuple[Any, Any]:
    """The hub's job store actor (a temporary database) and a RegistryShardActor (shard 0, default
    ShardConfig: data plane on; `feed_linger` when given) subclassed with `tick`, the stand-in for a
    job's publishes; returns both handles (the store lives while its handle is held)."""
    import ray

    from actors.handles import JobStoreActor, RegistryShardActor
    from actors.names import STORE_NAME
    from hub.core.config import ShardConfig

    store = JobStoreActor.options(name=STORE_NAME, namespace=NAMESPACE).remote(db_path, NAMESPACE, 5.0)  # type: ignore[attr-defined]
    ray.get(store.ping.remote())

    class TickingShard(RegistryShardActor.__ray_actor_class__):  # type: ignore[attr-defined,name-defined,misc]
        async def pid(self) -> int:
            return os.getpid()

        async def tick(self, educator_id: str, count: int, gap: float) -> None:
            """`count` notifications to `educator_id`, one every `gap` seconds, through the shard's
            own publish_message (stream, feeds, wake-up of the waiting pull)."""
            for i in range(count):
                await asyncio.sleep(gap)
                await self.publish_message([educator_id], "notification", {"x": 1, "n": i})

        async def profile_start(self) -> None:
            self._profile = cProfile.Profile(time.thread_time)  # this thread's CPU, not wall time
            self._profile.enable()

        async def profile_stop(self, top: int) -> str:
            self._profile.disable()
            return profile_text(self._profile, top)

    remote = ray.remote(num_cpus=0)(TickingShard)
    config = ShardConfig() if feed_linger is None else ShardConfig(feed_linger=feed_linger)
    return store, remote.options(namespace=NAMESPACE).remote(0, config, NAMESPACE)


def profile_text(profile: cProfile.Profile, top: int) -> str:
    """The `top` functions of a profile by own time, then by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


PROFILES: list[tuple[str, str, str]] = []  # (row, side, profile_text) of the profiled hub rows (--profile)
PULLS: dict[tuple[str, int, float], int] = {}  # the pulls each hub row made: (row, round, gap) -> pulls


async def over_hub(
    name: str, shard: Any, round_: int, messages: int, gap: float, profile: bool = False
) -> Callable[[], Awaitable[list[float]]]:
    """A ShardClient on the hub shard (data plane on the loopback port, on with TLS forced, or off)
    attached as an ingress watching one educator, its first pull done (the data-plane connection is
    made and authenticated then); returns the window to run: the shard publishes `messages` every
    `gap` seconds while the driver pulls and acknowledges as the relay does. `profile`: cProfile the
    window's CPU in the driver's and the shard's event-loop threads (into PROFILES)."""
    from actors.handles import ShardClient
    from hub.core.config import DataPlaneConfig
    from hub.core.stream import Envelope

    config = {HUB_WS: DataPlaneConfig(), HUB_WSS: DataPlaneConfig(dataplane_tls="always"), HUB_RAY: None}[name]
    client = ShardClient(shard, 0, dataplane=config)
    ingress, educator = f"ingress-{name}-{round_}-{gap}", f"educator-{name}-{round_}-{gap}"
    assert (await client.pull(ingress, 0, 0.01, None)).unknown
    await client.attach(ingress, [educator])
    first = await client.pull(ingress, 0, 0.01, None)
    assert not first.unknown and not first.items
    if config is not None:
        assert client.plane is not None and client.plane.connects == 1 and not client.plane.fallback_calls

    async def window() -> list[float]:
        latencies: list[float] = []
        ticking = shard.tick.remote(educator, messages, gap)
        ack, feed, pulls = 0, first.feed, 0
        mine = cProfile.Profile(time.thread_time) if profile else None
        if mine is not None:
            await shard.profile_start.remote()
            mine.enable()
        try:
            while len(latencies) < messages:
                batch = await client.pull(ingress, ack, 15.0, feed)
                pulls += 1
                assert not (batch.unknown or batch.lost), f"{name}: {batch.unknown=} {batch.lost=}"
                now = time.time()
                for _, raw in batch.items:
                    latencies.append(now - Envelope._make(raw).ts)
                if batch.items:
                    ack = batch.items[-1][0]
            await ticking
            PULLS[name, round_, gap] = pulls
            if mine is not None:
                mine.disable()
                PROFILES.append((name, "shard", await shard.profile_stop.remote(20)))
                PROFILES.append((name, "driver (the ingress's side)", profile_text(mine, 20)))
            return latencies
        finally:
            await client.detach(ingress)
            if client.plane is not None:
                assert not client.plane.fallback_calls, f"{name}: {client.plane.fallback_calls} calls fell back to Ray"
                await client.plane.close()

    return window


async def run_row(
    name: str, shard: Any, shard_pid: int, messages: int, gap: float, round_: int = 1, profile: bool = False
) -> tuple[float, ...]:
    """One row: (seconds, caller CPU s, actor CPU s, latency p50 s, latency p99 s). For the hub rows
    `shard` and `shard_pid` are the hub shard's; `profile`: over_hub's."""
    window = None
    if name in (ZMQ, ZMQ_CURVE):
        window = await over_zmq(shard, name == ZMQ_CURVE, messages, gap)
    elif name in (WS, WS_TLS):
        window = await over_ws(shard, name == WS_TLS, messages, gap)
    elif name in HUB_ROWS:
        window = await over_hub(name, shard, round_, messages, gap, profile)
    me, sh, t0 = cpu_seconds(os.getpid()), cpu_seconds(shard_pid), time.time()
    latencies = []
    if window:
        latencies = await window()
    elif name == IDLE:
        await asyncio.sleep(messages * gap)
    elif name == CALL:
        ack = 0
        for _ in range(messages):
            got = await shard.pull.remote(ack)
            latencies.append(time.time() - stamp_of(got))
            ack = got["items"][-1][0]
            await asyncio.sleep(gap)
    elif name == STREAM:
        async for ref in shard.stream.options(num_returns="streaming").remote(messages, gap):
            latencies.append(time.time() - stamp_of(await ref))
    else:
        latencies = await over_tcp(shard, messages, gap)
    took, caller, actor = time.time() - t0, cpu_seconds(os.getpid()) - me, cpu_seconds(shard_pid) - sh
    if name == IDLE:
        return took, caller, actor, float("nan"), float("nan")
    assert len(latencies) == messages, f"{name}: {len(latencies)} of {messages} messages"
    cuts = statistics.quantiles(latencies, n=100)
    return took, caller, actor, cuts[49], cuts[98]


async def measure(
    messages: int,
    gaps: list[float],
    runs: int,
    rows: tuple[str, ...] = ROWS,
    profile: bool = False,
    feed_linger: float | None = None,
) -> list[tuple[int, float, str, tuple[float, ...]]]:
    """Every row at every gap, `runs` rounds (rows alternating within a round), on one local Ray
    with one actor; returns (round, gap, row, run_row's figures) in order. `profile`: the hub rows
    of the last round are profiled (cProfile adds its own cost to their CPU figures). `feed_linger`:
    the hub shard's ShardConfig.feed_linger (None: its default)."""
    import ray

    init_local_ray(NAMESPACE)
    data = tempfile.TemporaryDirectory()
    try:
        shard = make_shard()
        shard_pid = await shard.pid.remote()
        hub_store, hub_shard, hub_pid = None, None, 0
        if any(name in HUB_ROWS for name in rows):
            hub_store, hub_shard = make_hub_shard(os.path.join(data.name, "jobs.db"), feed_linger)
            hub_pid = await hub_shard.pid.remote()
        results = []
        for round_ in range(1, runs + 1):
            for gap in gaps:
                for name in rows:
                    on, pid = (hub_shard, hub_pid) if name in HUB_ROWS else (shard, shard_pid)
                    traced = profile and round_ == runs
                    figures = await run_row(name, on, pid, messages, gap, round_, traced)
                    results.append((round_, gap, name, figures))
        del hub_store
        return results
    finally:
        ray.shutdown()
        data.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument(
        "--gap", type=float, nargs="+", default=[0.005], help="seconds between messages (0.005: light load)"
    )
    parser.add_argument("--runs", type=int, default=1, help="rounds of all rows, alternating")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), help="rows to run (all)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile both sides of the hub rows in the last round (CPU time)"
    )
    parser.add_argument(
        "--feed-linger", type=float, default=None, help="the hub shard's HUB_FEED_LINGER, seconds (its default)"
    )
    args = parser.parse_args()
    n = args.messages
    print(f"{n} messages a row, {os.cpu_count()} cores\n")
    print(
        "| run | gap ms | channel | seconds | caller CPU us/msg | actor CPU us/msg | total us/msg | x call "
        "| latency p50 ms | p99 ms |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    results = asyncio.run(measure(n, args.gap, args.runs, tuple(args.rows), args.profile, args.feed_linger))
    calls = {(r, g): 1e6 * (fig[1] + fig[2]) / n for r, g, name, fig in results if name == CALL}
    calls = defaultdict(lambda: float("nan"), calls)
    for round_, gap, name, (took, caller, actor, p50, p99) in results:
        total = 1e6 * (caller + actor) / n
        latency = "| - | - |" if name == IDLE else f"| {1e3 * p50:.2f} | {1e3 * p99:.2f} |"
        cpu = f"{1e6 * caller / n:.0f} | {1e6 * actor / n:.0f} | {total:.0f} | {total / calls[round_, gap]:.2f}"
        print(f"| {round_} | {1e3 * gap:g} | {LABELS[name]} | {took:.2f} | {cpu} {latency}")
    hub = {(r, g, name): 1e6 * (fig[1] + fig[2]) / n for r, g, name, fig in results if name in HUB_ROWS}
    if any(name == HUB_RAY for _, _, name in hub):
        print(
            "\nThe hub's feed over its data plane against the same feed over Ray calls, same run (CPU per message):\n"
        )
        print("| run | gap ms | channel | total us/msg | x hub over Ray calls | messages per pull |")
        print("|---|---:|---|---:|---:|---:|")
        for (round_, gap, name), total in hub.items():
            base = hub.get((round_, gap, HUB_RAY), float("nan"))
            per_pull = n / PULLS[name, round_, gap]
            print(f"| {round_} | {1e3 * gap:g} | {LABELS[name]} | {total:.0f} | {total / base:.2f} | {per_pull:.1f} |")
    for name, side, text in PROFILES:
        print(f"\n## cProfile (CPU time) of {LABELS[name]}, last round: the {side}\n\n```\n{text.strip()}\n```")


if __name__ == "__main__":
    main()
