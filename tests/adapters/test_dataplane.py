"""The data plane over real sockets (actors.dataplane): a DataPlaneServer serving a real
actors.registry.RegistryShard in this process, reached by DataPlaneClient, by raw websockets
connections and by raw TCP/TLS. No Ray: the shard's "discover" (a Ray call in the hub) is a plain
coroutine here, which lets a test hand out another endpoint, a closed port or a wrong token.

Unlike the rest of tests/adapters this module opens sockets, on 127.0.0.1 (and ::1) only: the data
plane is a socket, and what it must do is what happens on one (issue 15, items 5 and 6):
- calls over the loopback port and over TLS; a pull woken by a publish; many calls on one connection;
- security: an upgrade without a valid token is refused with 401 and the REFUSED sentence only;
  TLS without the pinned certificate (or pinning another server's) cannot connect; the plain port
  listens on 127.0.0.1 only;
- malformed and oversized frames are dropped (or answered with a failure) with a log line, never
  reach the shard, and leave the connection (oversized: the server) serving;
- faults: a connection closed mid-pull (Broken), a server restarted elsewhere (found again through
  discover), a port that cannot be reached (NoSocket, Ray fallback, retried after dataplane_retry);
- actors.handles.ShardClient's choice between the socket and Ray (a fake Ray handle)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import jwt
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidMessage, InvalidStatus

from actors.dataplane import keys as keys_module
from actors.dataplane.client import Broken, DataPlaneClient, Failed, NoSocket, NotCarried
from actors.dataplane.keys import ServerKeys, client_context
from actors.dataplane.server import REFUSED, DataPlaneServer
from actors.registry import RegistryShard
from hub.core import wire
from hub.core.config import DataPlaneConfig, ShardConfig
from hub.core.records import DataPlaneEndpoint, FeedBatch, HelloReply, PublishReply
from hub.core.stream import Envelope, StreamPosition
from tests.conftest import free_port, scaled

LOOP = "127.0.0.1"
NODE = "127.0.0.2"  # a node address other than the loopback one (Linux routes 127/8 to lo)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


CONFIG = DataPlaneConfig()
TLS_ALWAYS = DataPlaneConfig(dataplane_tls="always")
WAIT = scaled(10.0)  # seconds a test waits for something that should come at once


def run(coro: Awaitable[Any], limit: float = 60.0) -> Any:
    """Run one test's coroutine on a fresh event loop, failing it past `limit` (scaled) seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, scaled(limit))

    return asyncio.run(bounded())


def job(job_id: str, status: str, educator: str = "alice", progress: float = 0.0) -> dict[str, Any]:
    """A job-state update as a job monitor publishes it (JobState wire dict)."""
    return {
        "jobId": job_id,
        "kind": "quiz_generation",
        "educatorId": educator,
        "quizId": "q",
        "status": status,
        "progress": progress,
        "message": status,
        "createdAt": 1.0,
        "updatedAt": 1.0,
    }


def shard_state(shard: RegistryShard) -> Any:
    """Everything a call could change in a shard, comparable."""
    return (
        shard.epoch,
        shard.published,
        sorted(shard.streams),
        {k: v.status for k, v in shard.jobs.items()},
        {k: (f.feed_id, f.pending, dict(f.watching)) for k, f in shard.feeds.items()},
    )


@contextlib.asynccontextmanager
async def served(
    config: DataPlaneConfig = CONFIG, shard: RegistryShard | None = None, host: str = LOOP
) -> AsyncIterator[DataPlaneServer]:
    """A DataPlaneServer on `host` (TLS) and 127.0.0.1 (plain) over `shard` (a new RegistryShard)."""
    target = shard if shard is not None else RegistryShard(0, ShardConfig(poll_timeout=scaled(20)))
    server = DataPlaneServer(target, config, "shard 0")
    await server.start(host)
    try:
        yield server
    finally:
        await server.close()


class Discover:
    """A shard's `endpoint` call as the client's `discover`: what `source()` answers (a server's
    endpoint by default), counted."""

    def __init__(self, server: DataPlaneServer | None = None) -> None:
        self.calls = 0
        self.source: Callable[[], DataPlaneEndpoint | None] = server.endpoint if server else (lambda: None)

    async def __call__(self) -> DataPlaneEndpoint | None:
        self.calls += 1
        return self.source()


class Clock:
    """A monotonic clock the test moves (DataPlaneClient's `clock`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plane_client(
    discover: Discover, config: DataPlaneConfig = CONFIG, local_host: str = LOOP, clock: Clock | None = None
) -> DataPlaneClient:
    return DataPlaneClient(discover, config, local_host, "shard 0", clock or time.monotonic)


def remote_port(client: DataPlaneClient) -> int:
    assert client._ws is not None
    return int(client._ws.remote_address[1])


def uses_tls(client: DataPlaneClient) -> bool:
    assert client._ws is not None
    return client._ws.transport.get_extra_info("ssl_object") is not None


def server_connections(server: DataPlaneServer) -> list[Any]:
    return [c for s in server._servers for c in s.connections]


async def raw_ws(server: DataPlaneServer, token: str | None = None) -> ClientConnection:
    """An authenticated websockets connection to the loopback port, speaking raw frames."""
    endpoint = server.endpoint()
    return await connect(
        f"ws://{LOOP}:{endpoint.loopback_port}",
        additional_headers={"Authorization": f"Bearer {token or endpoint.token}"},
        compression=None,
        proxy=None,
        max_size=None,
        open_timeout=WAIT,
    )


async def answer(ws: ClientConnection, call_id: int, method: str, args: list[Any]) -> tuple[int, bool, Any]:
    """Send a request on a raw connection and read replies until the one for `call_id`."""
    await ws.send(wire.request(call_id, method, args))
    while True:
        got = wire.read_reply(await asyncio.wait_for(ws.recv(), WAIT))
        if got[0] == call_id:
            return got


@pytest.fixture
def plane_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, holding everything logged on "hub.dataplane" (at debug and up)."""
    logger = logging.getLogger("hub.dataplane")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old)


def logged(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.DEBUG) -> list[logging.LogRecord]:
    """The records of "hub.dataplane" holding `text` at `level` or above, each once (the handler may
    see a record twice: on the logger and, propagated, on the root)."""
    unique = {id(r): r for r in caplog.records}.values()
    return [r for r in unique if r.name == "hub.dataplane" and text in r.getMessage() and r.levelno >= level]


# -- calls -------------------------------------------------------------------------------------


async def exercise(client: DataPlaneClient, shard: RegistryShard) -> None:
    """Every method the data plane carries, with the records each answers."""
    assert await client.call("ping", []) == shard.epoch
    assert await client.call("attach", ["ing", ["alice"]]) == shard.epoch
    reply = await client.call("publish", [[job("j1", "queued"), job("j1", "processing", progress=5)]])
    assert reply == PublishReply(shard.epoch, [1, 2]) and isinstance(reply, PublishReply)
    assert await client.call("publish_message", [["alice", "bob"], "notification", {"text": "hi", "n": 2**70}]) == 2
    batch = await client.call("pull", ["ing", 0, 1.0, None])
    assert isinstance(batch, FeedBatch) and not batch.unknown and not batch.lost
    assert [n for n, _ in batch.items] == [1, 2, 3]
    envs = [Envelope._make(env) for _, env in batch.items]
    assert [(e.educator_id, e.seq, e.type) for e in envs] == [
        ("alice", 1, "quiz_status"),
        ("alice", 2, "quiz_status"),
        ("alice", 3, "notification"),
    ]
    assert envs[2].data == {"text": "hi", "n": 2**70}
    hellos = await client.call("hello_many", ["ing", [("alice", StreamPosition(shard.epoch, 1)), ("bob", None)]])
    assert all(isinstance(h, HelloReply) for h in hellos)
    assert hellos[0].resumed and [e.seq for e in hellos[0].messages] == [2, 3]
    assert not hellos[1].resumed and hellos[1].snapshot == [] and hellos[1].position == StreamPosition(shard.epoch, 1)
    assert await client.call("unwatch_many", ["ing", ["bob"]]) == [None]
    assert await client.call("detach", ["ing"]) is None
    assert "ing" not in shard.feeds


def test_calls_over_the_loopback_port() -> None:
    async def go() -> None:
        async with served() as server:
            client = plane_client(Discover(server))
            await exercise(client, server.target)
            assert remote_port(client) == server.ports[1] and not uses_tls(client)
            assert client.connects == 1 and not client.in_fallback and client.fallback_calls == 0
            await client.close()

    run(go())


def test_calls_over_tls() -> None:
    async def go() -> None:
        async with served(TLS_ALWAYS) as server:
            client = plane_client(Discover(server), TLS_ALWAYS)
            await exercise(client, server.target)
            assert remote_port(client) == server.ports[0] and uses_tls(client)
            await client.close()
        # "auto" is TLS too toward a shard on another node's address
        async with served() as server:
            client = plane_client(Discover(server), CONFIG, local_host="10.255.255.1")
            assert await client.call("ping", []) == server.target.epoch
            assert uses_tls(client)
            await client.close()

    run(go())


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_calls_over_tls_to_an_ipv6_node_address() -> None:
    """A node whose address is IPv6 (ray.util.get_node_ip_address on an IPv6 network): the URI needs
    the address in brackets (unbracketed, websockets raised InvalidURI out of the call: neither the
    socket nor the Ray fallback)."""

    async def go() -> None:
        async with served(TLS_ALWAYS, host="::1") as server:
            client = plane_client(Discover(server), TLS_ALWAYS, local_host="::1")
            assert await client.call("ping", []) == server.target.epoch
            assert uses_tls(client) and remote_port(client) == server.ports[0]
            await client.close()
        async with served(CONFIG, host="::1") as server:  # "auto", same node: the loopback port
            client = plane_client(Discover(server), CONFIG, local_host="::1")
            assert await client.call("ping", []) == server.target.epoch
            assert not uses_tls(client) and remote_port(client) == server.ports[1]
            await client.close()

    run(go())


def test_a_waiting_pull_is_woken_by_a_publish_on_the_same_connection() -> None:
    async def go() -> None:
        async with served() as server:
            client = plane_client(Discover(server))
            await client.call("attach", ["ing", ["alice"]])
            pull = asyncio.create_task(client.call("pull", ["ing", 0, scaled(30), None]))
            await asyncio.sleep(0.3)
            assert not pull.done()  # it waits at the shard
            assert await client.call("ping", []) == server.target.epoch  # the connection goes on meanwhile
            started = time.monotonic()
            await client.call("publish", [[job("j1", "queued")]])
            batch = await asyncio.wait_for(pull, WAIT)
            assert time.monotonic() - started < scaled(2)
            assert [n for n, _ in batch.items] == [1]
            assert client.connects == 1
            await client.close()

    run(go())


def test_many_calls_in_flight_on_one_connection() -> None:
    async def go() -> None:
        async with served() as server:
            client = plane_client(Discover(server))
            await client.call("attach", ["ing", ["alice", "bob"]])
            for k in range(3):
                await client.call("attach", [f"ing{k}", ["bob"]])
            pulls = [asyncio.create_task(client.call("pull", [f"ing{k}", 0, scaled(30), None])) for k in range(3)]
            calls = [client.call("ping", []) for _ in range(100)]
            calls += [client.call("publish", [[job(f"j{k}", "queued")]]) for k in range(50)]
            calls += [client.call("publish_message", [["bob"], "notification", {"k": k}]) for k in range(50)]
            results = await asyncio.gather(*calls)
            assert results[:100] == [server.target.epoch] * 100
            assert sorted(r.seqs[0] for r in results[100:150]) == list(range(1, 51))
            assert results[150:] == [1] * 50
            for pull in pulls:
                batch = await asyncio.wait_for(pull, WAIT)
                assert batch.items and Envelope._make(batch.items[0][1]).educator_id == "bob"
            everything = await client.call("pull", ["ing", 0, 1.0, None])
            assert len(everything.items) == 100
            assert client.connects == 1 and server.connections == 1
            await client.close()

    run(go())


# -- security (issue 15, item 5) ---------------------------------------------------------------

UPGRADE = [
    "GET / HTTP/1.1",
    "Host: {host}",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]


async def raw_upgrade(port: int, headers: list[str], tls: ssl.SSLContext | None = None) -> bytes:
    """The bytes a server answers to a WebSocket upgrade with `headers` added, up to its close."""
    reader, writer = await asyncio.open_connection(LOOP, port, ssl=tls)
    lines = [line.format(host=f"{LOOP}:{port}") for line in UPGRADE] + headers
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def expired_token(keys: ServerKeys, monkeypatch: pytest.MonkeyPatch) -> str:
    """A token `keys` signed an hour ago for 60 seconds (the keys' clock moved back to mint it)."""
    real = time.time

    class HourAgo:
        @staticmethod
        def time() -> float:
            return real() - 3600

    with monkeypatch.context() as patch:
        patch.setattr(keys_module, "time", HourAgo)
        token = keys.token(60)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] < real() - 3000
    return token


def refused_exactly(response: bytes) -> None:
    """A 401 whose body is the REFUSED sentence and whose head says nothing else of the server."""
    head, _, body = response.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    assert status == "HTTP/1.1 401 Unauthorized", response
    assert body == REFUSED.encode(), response
    names = {field.split(":", 1)[0].lower() for field in fields}
    assert names <= {"date", "connection", "content-length", "content-type"}, fields


BAD_CREDENTIALS: dict[str, Callable[[DataPlaneServer, DataPlaneServer, pytest.MonkeyPatch], list[str]]] = {
    "no token": lambda s, o, m: [],
    "empty bearer": lambda s, o, m: ["Authorization: Bearer "],
    "wrong token": lambda s, o, m: ["Authorization: Bearer not-a-token"],
    "basic auth": lambda s, o, m: ["Authorization: Basic aHViOmh1Yg=="],
    "token in another header": lambda s, o, m: [f"X-Token: {s.endpoint().token}"],
    "token in the query's place": lambda s, o, m: [f"Cookie: token={s.endpoint().token}"],
    "expired token": lambda s, o, m: [f"Authorization: Bearer {expired_token(s.keys, m)}"],  # type: ignore[arg-type]
    "another server's token": lambda s, o, m: [f"Authorization: Bearer {o.endpoint().token}"],
    "token of the right key but another audience": lambda s, o, m: [
        "Authorization: Bearer " + jwt.encode({"aud": "hub", "exp": int(time.time()) + 60}, s.keys._token_key, "HS256")  # type: ignore[union-attr]
    ],
    "unsigned token (alg none)": lambda s, o, m: [
        "Authorization: Bearer "
        + jwt.encode({"aud": keys_module.AUDIENCE, "exp": int(time.time()) + 60}, None, algorithm="none")
    ],
}


@pytest.mark.parametrize("name", list(BAD_CREDENTIALS))
def test_an_upgrade_without_valid_credentials_is_refused_and_learns_nothing(
    name: str, monkeypatch: pytest.MonkeyPatch, plane_log: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with served() as server, served() as other:
            shard = server.target
            await shard.attach("ing", ["alice"])
            await shard.publish([job("j1", "queued")])
            before = shard_state(shard)
            headers = BAD_CREDENTIALS[name](server, other, monkeypatch)
            tls, loopback = server.ports
            pinned = client_context(server.keys.cert_pem)  # type: ignore[union-attr]
            for port, context in ((loopback, None), (tls, pinned)):
                response = await raw_upgrade(port, headers, context)
                refused_exactly(response)
                assert shard.epoch.encode() not in response and b"alice" not in response
            # the websockets client is refused the same way, before any frame
            with pytest.raises(InvalidStatus) as refused:
                await connect(
                    f"ws://{LOOP}:{loopback}",
                    additional_headers=dict(h.split(": ", 1) for h in headers),
                    proxy=None,
                    open_timeout=WAIT,
                )
            assert refused.value.response.status_code == 401 and refused.value.response.body == REFUSED.encode()
            assert server.refused == 3 and server.connections == 0 and server.dropped == 0
            assert shard_state(shard) == before
            assert len(logged(plane_log, "refused: no valid token", logging.WARNING)) == 3

    run(go())


def test_a_token_opens_for_its_lifetime_and_5_seconds_of_leeway(monkeypatch: pytest.MonkeyPatch) -> None:
    keys, other = ServerKeys(LOOP), ServerKeys(LOOP)
    token = keys.token(60)
    assert keys.accepts(token) and not other.accepts(token)
    # shift: seconds from the token's issue (iat) to the server's "now"; an hour early: not yet valid
    for shift, accepted in ((-3600, False), (-3, True), (0, True), (59, True), (63, True), (67, False), (3600, False)):
        monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(shift))  # PyJWT's clock
        assert keys.accepts(token) is accepted, shift
    monkeypatch.undo()
    for bad in ("", "Bearer", "a.b", "a.b.c", token + "x", token.rsplit(".", 1)[0] + ".", token.upper()):
        assert not keys.accepts(bad), bad


class _FrozenDatetime:
    """Stands in for the datetime class PyJWT reads "now" from, `shift` seconds from the real now."""

    def __init__(self, shift: float) -> None:
        import datetime as real

        self._real = real.datetime
        self._shift = real.timedelta(seconds=shift)

    def now(self, tz: Any = None) -> Any:
        return self._real.now(tz) + self._shift

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@settings(max_examples=400, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["alg", "typ", "kid", "b64", "crit", "exp", "aud", "x"]), inner, max_size=4
            )
        ),
        max_leaves=8,
    ),
    st.binary(max_size=40),
    st.text(max_size=60),
)
def test_any_token_is_accepted_or_refused_never_an_error(header: Any, signature: bytes, raw: str) -> None:
    """Whatever a peer puts in the Authorization header, ServerKeys.accepts answers True or False (an
    exception there would be a 500 with a traceback in the log)."""
    import base64
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps(header).encode())
    for token in (f"{head}.{head}.{b64(signature)}", raw, f"{head}.{raw}", f"{head}.{b64(raw.encode())}.{raw}"):
        assert FUZZ_KEYS.accepts(token) is False


FUZZ_KEYS = ServerKeys(LOOP)


def test_an_upgrade_with_two_authorization_headers_is_refused(plane_log: pytest.LogCaptureFixture) -> None:
    """Which of two tokens counts is not for the peer to choose: refused as any other bad credential
    (it was a 500 with websockets' own body and a traceback in the log: Headers.get raised)."""

    async def go() -> None:
        async with served() as server:
            good = f"Authorization: Bearer {server.endpoint().token}"
            for headers in ([good, "Authorization: Bearer junk"], ["Authorization: Bearer junk", good], [good, good]):
                refused_exactly(await raw_upgrade(server.ports[1], headers))
            assert server.refused == 3 and server.connections == 0
            assert len(logged(plane_log, "refused: no valid token", logging.WARNING)) == 3

    run(go())


def test_a_client_with_a_refused_token_falls_back_to_ray() -> None:
    async def go() -> None:
        async with served() as server, served() as other:
            discover = Discover(server)
            discover.source = lambda: server.endpoint()._replace(token=other.endpoint().token)
            client = plane_client(discover)
            with pytest.raises(NoSocket):
                await client.call("ping", [])
            assert client.in_fallback and server.refused == 1

    run(go())


def test_a_plain_request_without_upgrade_learns_nothing() -> None:
    async def go() -> None:
        async with served() as server:
            reader, writer = await asyncio.open_connection(LOOP, server.ports[1])
            writer.write(f"GET /stats HTTP/1.1\r\nHost: {LOOP}\r\n\r\n".encode())
            await writer.drain()
            refused_exactly(await asyncio.wait_for(reader.read(), WAIT))
            writer.close()

    run(go())


def test_tls_without_the_pinned_certificate_cannot_connect() -> None:
    async def go() -> None:
        async with served() as server, served() as other:
            endpoint = server.endpoint()
            auth = {"Authorization": f"Bearer {endpoint.token}"}
            tls = f"wss://{LOOP}:{endpoint.port}"
            lenient_names = ssl.create_default_context()
            lenient_names.check_hostname = False
            for context in (
                ssl.create_default_context(),  # the default CA store
                lenient_names,  # the default CA store, host names unchecked
                client_context(other.keys.cert_pem),  # type: ignore[union-attr]  # pinning another server
            ):
                with pytest.raises(ssl.SSLCertVerificationError):
                    await connect(tls, ssl=context, additional_headers=auth, proxy=None, open_timeout=WAIT)
            # a man in the middle: the right pin, the other server's socket
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(
                    f"wss://{LOOP}:{other.ports[0]}",
                    ssl=client_context(endpoint.cert_pem),
                    additional_headers=auth,
                    proxy=None,
                    open_timeout=WAIT,
                )
            # plain websockets on the TLS port: no upgrade
            with pytest.raises(InvalidMessage):  # the TLS port answers no plain HTTP
                await connect(f"ws://{LOOP}:{endpoint.port}", additional_headers=auth, proxy=None, open_timeout=WAIT)
            assert server.connections == other.connections == 0

            # the data-plane client told another server's certificate falls back instead of talking
            discover = Discover(server)
            discover.source = lambda: server.endpoint()._replace(cert_pem=other.keys.cert_pem)  # type: ignore[union-attr]
            client = plane_client(discover, TLS_ALWAYS)
            with pytest.raises(NoSocket):
                await client.call("ping", [])
            assert client.in_fallback and server.connections == 0

    run(go())


def test_the_plain_port_listens_on_loopback_only() -> None:
    """The node address (127.0.0.2 stands in for it: Linux routes all of 127/8 to the loopback
    interface) serves TLS only; the plain port is on 127.0.0.1 alone."""

    async def go() -> None:
        async with served(host=NODE) as server:
            tls_server, plain_server = server._servers
            assert {s.getsockname()[0] for s in plain_server.sockets} == {"127.0.0.1"}
            assert {s.getsockname()[0] for s in tls_server.sockets} == {NODE}
            assert server.endpoint().host == NODE
            with pytest.raises(ConnectionRefusedError):  # the plain port is not on the node address
                await asyncio.open_connection(NODE, server.ports[1])
            with pytest.raises(ConnectionRefusedError):  # nor the TLS port on loopback
                await asyncio.open_connection(LOOP, server.ports[0])
            # a caller on another node reaches it over TLS
            client = plane_client(Discover(server), CONFIG, local_host="10.255.255.1")
            assert await client.call("ping", []) == server.target.epoch
            assert uses_tls(client) and remote_port(client) == server.ports[0]
            await client.close()

    run(go())


# -- malformed and oversized frames (issue 15, item 5) -----------------------------------------


def bad_frames(count: int, seed: int = 15) -> list[Any]:
    """`count` frames, each refused by wire.read_request or wire.checked_args (checked here), of many
    kinds: text, random bytes, cut or padded requests, other shapes, unknown methods, wrong arguments."""
    rng = random.Random(seed)
    good = [
        wire.request(1, "attach", ["ing", ["alice"]]),
        wire.request(2, "pull", ["ing", 0, 1.0, None]),
        wire.request(3, "publish", [[job("j9", "queued")]]),
        wire.request(4, "hello_many", ["ing", [["alice", None]]]),
    ]
    makers: list[Callable[[], Any]] = [
        lambda: "text " + str(rng.random()),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
        lambda: rng.choice(good)[: rng.randrange(1, 8)],
        lambda: rng.choice(good) + bytes([rng.randrange(256)]),
        lambda: msgpack.packb({"id": rng.randrange(9), "method": "ping"}),
        lambda: msgpack.packb([rng.randrange(9), rng.choice(["stats", "_feed", "job", "__class__", ""]), []]),
        lambda: msgpack.packb([-rng.randrange(1, 9), "ping", []]),
        lambda: msgpack.packb([rng.random(), "ping", []]),
        lambda: msgpack.packb([rng.randrange(9), "ping", [rng.randrange(9)]]),
        lambda: msgpack.packb([rng.randrange(9), "detach", [rng.randrange(9)]]),
        lambda: msgpack.packb([rng.randrange(9), "attach", ["ing", "alice"]]),
        lambda: msgpack.packb([rng.randrange(9), "pull", ["ing", "0", None, None]]),
        lambda: msgpack.packb([rng.randrange(9), "publish", ["not a list"]]),
        lambda: msgpack.packb([rng.randrange(9), "publish_message", [["alice"], "t", "data"]]),
        lambda: msgpack.packb([rng.randrange(9), "hello_many", ["ing", [["alice", ["ep", "x"]]]]]),
        lambda: msgpack.packb([1, "ping", [msgpack.ExtType(rng.randrange(2, 100), b"x")]]),
    ]
    frames: list[Any] = []
    while len(frames) < count:
        frame = rng.choice(makers)()
        try:
            _, method, args = wire.read_request(frame, CONFIG.dataplane_max_frame)
            wire.checked_args(method, args)
        except wire.BadFrame:
            frames.append(frame)
    return frames


def test_malformed_frames_are_dropped_with_a_log_line_and_never_reach_the_shard(
    plane_log: pytest.LogCaptureFixture,
) -> None:
    async def go() -> None:
        async with served() as server:
            shard = server.target
            other = plane_client(Discover(server))
            await other.call("attach", ["ing", ["alice"]])
            other_pull = asyncio.create_task(other.call("pull", ["ing", 0, scaled(30), None]))
            await asyncio.sleep(0.1)
            before = shard_state(shard)
            ws = await raw_ws(server)
            frames = bad_frames(250)
            for frame in frames:
                await ws.send(frame)
            # the same connection still answers, in order after all of them; what came back for the
            # malformed ones is nothing or a failure
            replies = []
            await ws.send(wire.request(999_999, "ping", []))
            while True:
                call_id, ok, value = wire.read_reply(await asyncio.wait_for(ws.recv(), WAIT))
                if call_id == 999_999:
                    assert ok and value == shard.epoch
                    break
                replies.append((call_id, ok, value))
            assert all(not ok and isinstance(value, str) for _, ok, value in replies)
            assert server.dropped == len(frames)
            assert shard_state(shard) == before
            assert not other_pull.done()  # the other connection's pull still waits, and is served
            await shard.publish([job("j1", "queued")])
            assert [n for n, _ in (await asyncio.wait_for(other_pull, WAIT)).items] == [1]
            # one log line per frame: the first ones at warning, the rest at debug
            lines = logged(plane_log, "dropped a data-plane frame")
            assert len(lines) == server.dropped
            assert any(r.levelno == logging.WARNING for r in lines)
            assert server.connections == 2
            await ws.close()
            await other.close()

    run(go(), limit=120)


def test_each_kind_of_malformed_frame_is_logged_and_the_connection_goes_on(
    plane_log: pytest.LogCaptureFixture,
) -> None:
    async def go() -> None:
        async with served() as server:
            shard = server.target
            await shard.attach("ing", ["alice"])
            before = shard_state(shard)
            ws = await raw_ws(server)
            cases: dict[str, Any] = {
                "text frame": "[1, 'ping', []]",
                "garbage": b"\xc1\xc1\xc1",
                "unknown method": msgpack.packb([5, "stats", []]),
                "too many args": msgpack.packb([6, "detach", ["ing", "more"]]),
            }
            for k, (name, frame) in enumerate(cases.items()):
                plane_log.clear()
                await ws.send(frame)
                assert (await answer(ws, 100 + k, "ping", []))[1:] == (True, shard.epoch), name
                assert logged(plane_log, "dropped a data-plane frame", logging.WARNING), name
            assert server.dropped == len(cases)
            assert shard_state(shard) == before
            await ws.close()

    run(go())


def test_a_call_that_raises_in_the_shard_is_answered_with_a_sentence(plane_log: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        async with served() as server:
            shard = server.target
            before = shard_state(shard)
            ws = await raw_ws(server)
            # a job update that is not a JobState: the shard's validation raises
            call_id, ok, reason = await answer(ws, 7, "publish", [[{"jobId": "j1", "status": "exploded"}]])
            assert (call_id, ok) == (7, False)
            assert reason == "the registry shard could not do publish (ValidationError)"
            assert "Traceback" not in reason and "exploded" not in reason
            assert logged(plane_log, "publish over the data plane failed", logging.WARNING)
            assert shard_state(shard) == before
            assert (await answer(ws, 8, "ping", []))[1:] == (True, shard.epoch)
            # the client's side: Failed, with the sentence
            client = plane_client(Discover(server))
            with pytest.raises(Failed, match="could not do publish"):
                await client.call("publish", [[{"jobId": "j1"}]])
            assert await client.call("ping", []) == shard.epoch
            await client.close()
            await ws.close()

    run(go())


def test_a_numbered_request_with_wrong_arguments_is_answered_with_a_failure(
    plane_log: pytest.LogCaptureFixture,
) -> None:
    """Dropped without an answer, such a request left its caller waiting for ever (DataPlaneClient
    has no time limit of its own on a call: a pull may wait long): it is told instead."""

    async def go() -> None:
        async with served() as server:
            shard = server.target
            await shard.attach("ing", ["alice"])
            before = shard_state(shard)
            client = plane_client(Discover(server))
            for method, args in (
                ("pull", ["ing", "0", None, None]),
                ("attach", ["ing", "alice"]),
                ("publish_message", [["alice"], "notification", "not a dict"]),
                ("hello_many", ["ing", [["alice", ["ep", "1"]]]]),
                ("detach", [3]),
            ):
                with pytest.raises(Failed, match="the registry shard refused the request"):
                    await asyncio.wait_for(client.call(method, args), WAIT)
            assert await client.call("ping", []) == shard.epoch and client.connects == 1
            assert server.dropped == 5 and shard_state(shard) == before
            assert len(logged(plane_log, "dropped a data-plane frame", logging.WARNING)) == 5
            ws = await raw_ws(server)
            call_id, ok, reason = await answer(ws, 41, "unwatch_many", ["ing", "alice"])
            assert (call_id, ok) == (41, False) and "unwatch_many: arguments of the wrong types" in reason
            await ws.close()
            await client.close()

    run(go())


def test_an_oversized_frame_closes_that_connection_only(plane_log: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        config = DataPlaneConfig(dataplane_max_frame=4096)
        async with served(config) as server:
            shard = server.target
            other = plane_client(Discover(server), config)
            await other.call("attach", ["ing", ["alice"]])
            before = shard_state(shard)
            ws = await raw_ws(server)
            # just under the limit: served
            assert (await answer(ws, 1, "unwatch_many", ["ing", ["x" * 3000]]))[1] is True
            await ws.send(wire.request(2, "attach", ["ing", ["y" * 5000]]))
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            await asyncio.sleep(0.1)
            assert logged(plane_log, "frame over the limit", logging.WARNING)
            assert shard_state(shard) == before and "y" * 5000 not in shard.feeds["ing"].watching
            assert await other.call("ping", []) == shard.epoch  # the other connection goes on
            again = await raw_ws(server)  # and new ones are served
            assert (await answer(again, 3, "ping", []))[1:] == (True, shard.epoch)
            await again.close()
            await other.close()

    run(go())


def test_what_a_shard_would_refuse_is_not_sent(plane_log: pytest.LogCaptureFixture) -> None:
    """A dict key that is not a string (Ray carried it; the shard drops such a frame, so the call
    waited for ever) and a frame past the limit (the shard closed the connection, so the call broke
    each time it was tried): NotCarried, for the caller to make the call over Ray; the connection
    stays."""

    async def go() -> None:
        config = DataPlaneConfig(dataplane_max_frame=4096)
        async with served(config) as server:
            client = plane_client(Discover(server), config)
            assert await client.call("ping", []) == server.target.epoch
            for method, args in (
                ("publish_message", [["alice"], "notification", {1: "one"}]),
                ("publish", [[{**job("j1", "queued"), "extra": {"scores": {1: 0.5}}}]]),
                ("attach", ["ing", ["y" * 5000]]),
                ("publish_message", [["alice"] * 1000, "notification", {}]),
            ):
                with pytest.raises(NotCarried):
                    await asyncio.wait_for(client.call(method, args), WAIT)
            assert await client.call("ping", []) == server.target.epoch
            assert client.connects == 1 and server.dropped == 0 and not client.in_fallback
            assert server.target.published == 0
            assert not logged(plane_log, "frame over the limit")
            await client.close()

    run(go())


# -- faults (issue 15, item 6) -----------------------------------------------------------------


def numbers(batch: FeedBatch) -> list[int]:
    return [Envelope._make(env).data["n"] for _, env in batch.items]


@pytest.mark.parametrize("how", ["close", "abort"])
def test_a_connection_closed_mid_pull_breaks_the_call_and_the_next_resumes(how: str) -> None:
    async def go() -> None:
        async with served() as server:
            shard = server.target
            discover = Discover(server)
            client = plane_client(discover)
            await client.call("attach", ["ing", ["alice"]])
            for n in (1, 2, 3):
                await shard.publish_message(["alice"], "notification", {"n": n})
            batch = await client.call("pull", ["ing", 0, 1.0, None])
            assert numbers(batch) == [1, 2, 3]
            ack, feed = batch.items[-1][0], batch.feed
            pull = asyncio.create_task(client.call("pull", ["ing", ack, scaled(30), feed]))
            await asyncio.sleep(0.2)
            (conn,) = server_connections(server)
            if how == "close":
                await conn.close()
            else:
                conn.transport.abort()
            with pytest.raises(Broken):
                await asyncio.wait_for(pull, WAIT)
            for n in (4, 5, 6):  # published while the caller is away
                await shard.publish_message(["alice"], "notification", {"n": n})
            batch = await client.call("pull", ["ing", ack, 1.0, feed])  # reconnects
            assert discover.calls == 2 and client.connects == 2
            assert numbers(batch) == [4, 5, 6]  # nothing lost, nothing acknowledged repeated
            # a reply lost on the way (the caller never saw 4-6): asked again with the same ack, it
            # comes again; nothing the caller acknowledged does
            assert numbers(await client.call("pull", ["ing", ack, 1.0, feed])) == [4, 5, 6]
            assert numbers(await client.call("pull", ["ing", batch.items[-1][0], 0.2, feed])) == []
            await client.close()

    run(go())


def test_a_caller_killed_mid_pull_leaves_nothing_running_at_the_shard() -> None:
    """The ingress process killed (its socket reset) with a pull waiting: the server's connection
    ends and the waiting pull with it; the feed stays for the ingress's lease, its items kept."""

    async def go() -> None:
        async with served() as server:
            shard = server.target
            client = plane_client(Discover(server))
            await client.call("attach", ["ing", ["alice"]])
            pull = asyncio.create_task(client.call("pull", ["ing", 0, scaled(30), None]))
            await asyncio.sleep(0.2)
            assert any(t.get_coro().__name__ == "_answer" for t in asyncio.all_tasks())  # type: ignore[union-attr]
            assert client._ws is not None
            client._ws.transport.abort()  # as the kernel does for a killed process
            with pytest.raises(Broken):
                await asyncio.wait_for(pull, WAIT)
            deadline = time.monotonic() + WAIT
            while server.connections or any(
                t.get_coro().__name__ == "_answer"  # type: ignore[union-attr]
                for t in asyncio.all_tasks()
            ):
                assert time.monotonic() < deadline, "the shard still serves the killed caller"
                await asyncio.sleep(0.05)
            await shard.publish_message(["alice"], "notification", {"n": 1})
            assert shard.feeds["ing"].pending == 1  # kept for the ingress's next pull (or its lease)
            batch = await client.call("pull", ["ing", 0, 1.0, None])  # another process of it, reconnected
            assert numbers(batch) == [1]
            await client.close()

    run(go())


def test_a_server_closed_mid_pull_and_back_on_a_new_port_with_new_keys() -> None:
    async def go() -> None:
        shard = RegistryShard(0, ShardConfig(poll_timeout=scaled(20)))
        discover = Discover()
        client = plane_client(discover)
        async with served(shard=shard) as first:
            discover.source = first.endpoint
            await client.call("attach", ["ing", ["alice"]])
            await shard.publish_message(["alice"], "notification", {"n": 1})
            batch = await client.call("pull", ["ing", 0, 1.0, None])
            ack, feed = batch.items[-1][0], batch.feed
            pull = asyncio.create_task(client.call("pull", ["ing", ack, scaled(30), feed]))
            await asyncio.sleep(0.2)
            old_token, old_ports = first.endpoint().token, first.ports
        with pytest.raises(Broken):  # the server went away with the pull in flight
            await asyncio.wait_for(pull, WAIT)
        await shard.publish_message(["alice"], "notification", {"n": 2})
        # the same shard's socket again (a new server process would have new keys and ports)
        async with served(shard=shard) as second:
            assert second.ports != old_ports
            discover.source = second.endpoint
            assert numbers(await client.call("pull", ["ing", ack, 1.0, feed])) == [2]
            assert discover.calls == 2
            # the old incarnation's token does not open the new one
            with pytest.raises(InvalidStatus):
                await raw_ws(second, token=old_token)
        await client.close()

    run(go())


def test_a_shard_restarted_elsewhere_is_found_through_discover() -> None:
    async def go() -> None:
        discover = Discover()
        client = plane_client(discover)
        async with served() as first:
            discover.source = first.endpoint
            await client.call("attach", ["ing", ["alice"]])
            await first.target.publish_message(["alice"], "notification", {"n": 1})
            batch = await client.call("pull", ["ing", 0, 1.0, None])
            ack, feed = batch.items[-1][0], batch.feed
            old_epoch = first.target.epoch
        async with served() as second:  # a new incarnation: a new shard, port and keys
            discover.source = second.endpoint
            with contextlib.suppress(Broken):  # at most the call that finds the old connection closed
                await client.call("ping", [])
            reply = await client.call("pull", ["ing", ack, 1.0, feed])
            assert reply.unknown and reply.epoch == second.target.epoch != old_epoch
            assert await client.call("attach", ["ing", ["alice"]]) == second.target.epoch
            await second.target.publish_message(["alice"], "notification", {"n": 7})
            assert numbers(await client.call("pull", ["ing", 0, 1.0, None])) == [7]
            assert not client.in_fallback
            await client.close()

    run(go())


def closed_port_endpoint(server: DataPlaneServer) -> DataPlaneEndpoint:
    port = free_port()  # nothing listens there
    return server.endpoint()._replace(port=port, loopback_port=port)


async def attempt(client: DataPlaneClient) -> None:
    """Wait for the client's background attempt at the socket (made while it is on Ray calls)."""
    assert client._retry is not None
    await asyncio.wait_for(client._retry, WAIT)


def test_a_blocked_port_falls_back_logs_once_and_retries_after_the_retry_time(
    plane_log: pytest.LogCaptureFixture,
) -> None:
    async def go() -> None:
        config = DataPlaneConfig(dataplane_retry=30.0)
        async with served(config) as server:
            clock = Clock()
            discover = Discover(server)
            discover.source = lambda: closed_port_endpoint(server)
            client = plane_client(discover, config, clock=clock)
            with pytest.raises(NoSocket):
                await client.call("ping", [])
            assert client.in_fallback and client.fallback_since == clock.now
            assert client.fallback_calls == 1 and discover.calls == 1
            for _ in range(5):  # within the retry time: not even asked where the socket is
                clock.now += 5
                with pytest.raises(NoSocket):
                    await client.call("pull", ["ing", 0, 1.0, None])
            assert client.fallback_calls == 6 and discover.calls == 1
            clock.now += 6  # past dataplane_retry: tried again (in the background), still blocked
            with pytest.raises(NoSocket):
                await client.call("ping", [])
            await attempt(client)
            assert discover.calls == 2 and client.fallback_calls == 7 and client.fallback_since == 1000.0
            assert len(logged(plane_log, "no data-plane socket", logging.WARNING)) == 1
            assert "ConnectionRefusedError" in logged(plane_log, "no data-plane socket")[0].getMessage()
            # the port works again: the next try (after the retry time) is back on the socket
            discover.source = server.endpoint
            clock.now += 29
            with pytest.raises(NoSocket):
                await client.call("ping", [])
            assert client._retry is not None and client._retry.done() and discover.calls == 2
            clock.now += 2
            with pytest.raises(NoSocket):  # this call goes over Ray; the socket is tried meanwhile
                await client.call("ping", [])
            await attempt(client)
            assert not client.in_fallback and client.fallback_since is None and client.connects == 1
            assert await client.call("ping", []) == server.target.epoch  # on the socket
            assert discover.calls == 3 and client.fallback_calls == 9
            assert logged(plane_log, "data-plane socket back after 62s", logging.INFO)
            assert len(logged(plane_log, "no data-plane socket", logging.WARNING)) == 1
            await client.close()

    run(go())


def test_a_socket_that_never_answers_times_out_into_the_fallback(plane_log: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        silent = socket.socket()
        silent.bind((LOOP, 0))
        silent.listen(8)  # the kernel completes TCP handshakes; nothing ever answers the upgrade
        try:
            config = DataPlaneConfig(dataplane_connect_timeout=0.3)
            async with served(config) as server:
                port = silent.getsockname()[1]
                discover = Discover(server)
                discover.source = lambda: server.endpoint()._replace(port=port, loopback_port=port)
                for tls in ("auto", "always"):
                    client = plane_client(discover, config.model_copy(update={"dataplane_tls": tls}))
                    started = time.monotonic()
                    with pytest.raises(NoSocket):
                        await client.call("ping", [])
                    assert time.monotonic() - started < scaled(3)
                    assert client.in_fallback and client.fallback_calls == 1
                assert logged(plane_log, "TimeoutError", logging.WARNING)
        finally:
            silent.close()

    run(go())


def test_no_call_waits_for_an_attempt_at_a_silent_socket() -> None:
    """A firewall that drops the packets: each attempt takes dataplane_connect_timeout. Made while
    calls already go over Ray, it must not hold them (it held every call to the shard, the relay's
    pull among them, for that long once per dataplane_retry)."""

    async def go() -> None:
        silent = socket.socket()
        silent.bind((LOOP, 0))
        silent.listen(8)
        try:
            config = DataPlaneConfig(dataplane_connect_timeout=scaled(1.0), dataplane_retry=5.0)
            async with served(config) as server:
                port = silent.getsockname()[1]
                clock = Clock()
                discover = Discover(server)
                discover.source = lambda: server.endpoint()._replace(port=port, loopback_port=port)
                client = plane_client(discover, config, clock=clock)
                with pytest.raises(NoSocket):  # the first attempt: this call waits for it
                    await client.call("ping", [])
                assert client.in_fallback
                clock.now += 6  # the retry time passed: the next calls go over Ray at once
                started = time.monotonic()
                for _ in range(5):
                    with pytest.raises(NoSocket):
                        await client.call("pull", ["ing", 0, 1.0, None])
                assert time.monotonic() - started < scaled(1.0) / 2
                assert client._retry is not None and not client._retry.done()  # the attempt goes on meanwhile
                await attempt(client)
                assert discover.calls == 2 and client.in_fallback and client.fallback_calls == 6
                # the socket answers again: found by the next attempt, used by the calls after it
                discover.source = server.endpoint
                clock.now += 6
                with pytest.raises(NoSocket):
                    await client.call("ping", [])
                await attempt(client)
                assert await client.call("ping", []) == server.target.epoch and not client.in_fallback
                await client.close()
        finally:
            silent.close()

    run(go())


def test_a_shard_without_a_socket_is_reached_over_ray() -> None:
    async def go() -> None:
        discover = Discover()  # answers None: the shard serves no data plane
        client = plane_client(discover)
        with pytest.raises(NoSocket):
            await client.call("ping", [])
        assert client.in_fallback and client.fallback_calls == 1

    run(go())


def test_metrics_show_which_shard_is_on_ray_calls() -> None:
    """hub_dataplane_fallback at /metrics: 1 for a shard whose socket cannot be made, 0 for one on its
    socket, absent for a shard without a data plane; the calls made over Ray and the connections."""
    from types import SimpleNamespace

    from hub.metrics import IngressMetrics, dataplane_families

    async def go() -> str:
        async with served() as server:
            on_socket = plane_client(Discover(server))
            await on_socket.call("ping", [])
            on_ray = plane_client(Discover())  # the shard serves no socket
            for _ in range(3):
                with pytest.raises(NoSocket):
                    await on_ray.call("ping", [])
            shards = [SimpleNamespace(plane=on_socket), SimpleNamespace(plane=on_ray), SimpleNamespace(plane=None)]
            text = IngressMetrics().render(dataplane_families(shards))
            await on_socket.close()
            return text

    text = run(go())
    assert 'hub_dataplane_fallback{shard="0"} 0.0' in text and 'hub_dataplane_fallback{shard="1"} 1.0' in text
    assert 'hub_dataplane_fallback_calls_total{shard="1"} 3.0' in text
    assert 'hub_dataplane_fallback_calls_total{shard="0"} 0.0' in text
    assert 'hub_dataplane_connects_total{shard="0"} 1.0' in text
    assert 'shard="2"' not in text


# -- actors.handles.ShardClient: the socket first, Ray where there is none --------------------


class FakeRayMethod:
    """`handle.method.remote(*args)`: an awaitable running the method on an in-process shard, as a
    Ray actor call would (no copies needed here: the test checks which path a call took)."""

    def __init__(self, target: Any, name: str, calls: list[str]) -> None:
        self.target, self.name, self.calls = target, name, calls

    def remote(self, *args: Any) -> Awaitable[Any]:
        self.calls.append(self.name)
        return getattr(self.target, self.name)(*args)


class FakeRayHandle:
    def __init__(self, target: Any) -> None:
        self.target = target
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> FakeRayMethod:
        return FakeRayMethod(self.target, name, self.calls)


class ShardActorStandIn:
    """What the shard actor answers over Ray: its RegistryShard's methods and `endpoint`."""

    def __init__(self, shard: RegistryShard, endpoint: Callable[[], Awaitable[DataPlaneEndpoint | None]]) -> None:
        self.shard = shard
        self.endpoint = endpoint

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)


def test_shard_client_takes_the_socket_then_ray_then_reports_failures() -> None:
    from actors.handles import ShardClient
    from hub.core.errors import UpstreamError

    async def go() -> None:
        async with served() as server:
            shard = server.target
            where: list[DataPlaneEndpoint | None] = [server.endpoint()]

            async def endpoint() -> DataPlaneEndpoint | None:
                return where[0] if where[0] is None else server.endpoint()

            handle = FakeRayHandle(ShardActorStandIn(shard, endpoint))
            client = ShardClient(handle, 0, CONFIG)
            assert client.plane is not None
            client.plane.local_host = LOOP  # this process's node address, as the shard's endpoint names it
            # on the socket: only `endpoint` went over "Ray"
            assert await client.ping() == shard.epoch
            await client.attach("ing", ["alice"])
            assert handle.calls == ["endpoint"] and client.plane.connects == 1
            # a call the socket cannot carry goes over Ray
            assert await client.publish_message(["alice"], "notification", {"when": 1j}) == 1
            assert handle.calls == ["endpoint", "publish_message"]
            # ... and so does one the shard would refuse off its socket (a key that is not a string)
            assert await client.publish_message(["alice"], "notification", {"scores": {1: 0.5}}) == 1
            assert handle.calls == ["endpoint", "publish_message", "publish_message"]
            # the shard answered a failure: UpstreamError, not retried over Ray
            with pytest.raises(UpstreamError):
                await client.publish([{"jobId": "j1", "status": "exploded"}])
            assert handle.calls[-1] == "publish_message"
            # the connection broke with a pull in flight: UpstreamError (the relay retries)
            pull = asyncio.create_task(client.pull("ing", 99, scaled(30)))
            await asyncio.sleep(0.2)
            for conn in server_connections(server):
                conn.transport.abort()
            with pytest.raises(UpstreamError):
                await asyncio.wait_for(pull, WAIT)
            # no socket to be had: every hot call over Ray, counted
            where[0] = None
            assert await client.ping() == shard.epoch
            assert await client.attach("ing", ["bob"]) == shard.epoch
            assert handle.calls[-3:] == ["endpoint", "ping", "attach"]
            assert client.plane.in_fallback and client.plane.fallback_calls == 2

    run(go())
