"""The hub's permessage-deflate: a compressor dropped between messages (RFC 7692 lets a sender stop
using context at any message) still produces frames a context-keeping client decodes."""

from __future__ import annotations

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from hub.ingress.wsproto import TrimmableDeflate


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
