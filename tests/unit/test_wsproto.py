"""The hub's permessage-deflate: a compressor dropped between messages (RFC 7692 lets a sender stop
using context at any message) still produces frames a context-keeping client decodes."""

from __future__ import annotations

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from hub.ingress.wsproto import TrimmableDeflate, data_frame


def test_frames_after_a_trim_decode_in_a_client_that_kept_its_context() -> None:
    server = TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})
    client = PerMessageDeflate(False, True, 10, 10)  # the client keeps the server's context
    texts = [f'{{"op":"batch","messages":[{{"seq":{i},"title":"quiz progress {i}"}}]}}'.encode() for i in range(6)]
    sizes = []
    assert server.trim()  # the compressor made at the handshake
    assert not server.trim()  # nothing left to free
    for i, text in enumerate(texts):
        if i in (2, 3, 5):
            assert server.trim()  # idle: the compressor's memory is given back
        wire = server.encode(Frame(Opcode.TEXT, text))
        sizes.append(len(wire.data))
        assert client.decode(wire).data == text
    assert sizes[1] < sizes[0]  # context is used again between trims
    assert sizes[4] < sizes[3]


def test_no_context_takeover_has_nothing_to_trim() -> None:
    server = TrimmableDeflate(True, True, 10, 10, {})
    assert not server.trim()
    client = PerMessageDeflate(True, True, 10, 10)
    assert client.decode(server.encode(Frame(Opcode.TEXT, b"hello"))).data == b"hello"


def test_the_hot_path_frames_are_byte_for_byte_what_websockets_makes() -> None:
    """hub.ingress.wsproto.data_frame against websockets' Frame.serialize, same compressor settings,
    over a sequence (context carried between messages, a trim in the middle) and every length form."""
    ours = TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})
    theirs = TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})
    client = PerMessageDeflate(False, True, 10, 10)
    payloads = [b"x", b'{"op":"batch"}' * 5, bytes(range(256)) * 300, b"a" * 125, b"b" * 126, b"c" * 70_000]
    for i, payload in enumerate(payloads):
        if i == 3:
            assert ours.trim() and theirs.trim()
        frame = data_frame(payload, ours)
        assert frame == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[theirs])
        assert frame[0] & 0x40  # RSV1: compressed
        assert _parse(frame, client).data == payload
    for payload in payloads:  # without compression
        assert data_frame(payload, None) == Frame(Opcode.TEXT, payload).serialize(mask=False)
        assert data_frame(payload, None, binary=True) == Frame(Opcode.BINARY, payload).serialize(mask=False)


def test_binary_frames_are_what_websockets_makes_compressed_too() -> None:
    """A MessagePack connection's binary frames (PROTOCOL.md section 8), deflated as text frames are."""
    ours = TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})
    theirs = TrimmableDeflate(True, False, 10, 10, {"memLevel": 4})
    client = PerMessageDeflate(False, True, 10, 10)
    for payload in [b"\x81\xa2op\xa5batch", bytes(range(256)) * 300]:
        frame = data_frame(payload, ours, binary=True)
        assert frame == Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[theirs])
        parsed = _parse(frame, client)
        assert (parsed.opcode, parsed.data) == (Opcode.BINARY, payload)


def test_server_no_context_takeover_compresses_every_message_alone() -> None:
    ext = TrimmableDeflate(True, True, 10, 10, {})
    first, second = data_frame(b"hello hello hello", ext), data_frame(b"hello hello hello", ext)
    assert first == second  # no context carried over
    assert _parse(second, PerMessageDeflate(True, True, 10, 10)).data == b"hello hello hello"


def _parse(data: bytes, decoder: PerMessageDeflate) -> Frame:
    """websockets' own (client-side) frame parser, decompressing with `decoder`."""
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, extensions=[decoder])
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")
