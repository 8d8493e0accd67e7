"""uvicorn's websockets (sans-I/O) protocol with the hub's permessage-deflate settings and a direct
frame writer.

zlib's memory per connection is about 2**(wbits + 2) + 2**(memLevel + 9) bytes to compress and
2**wbits + 7 KiB to decompress: uvicorn's 12 bits and memLevel 5 cost ~43 KiB per connection. The
hub (docs/benchmarks.md):
- compresses with a smaller window (its small JSON frames compress nearly as well);
- asks clients not to keep context between their messages (`client_no_context_takeover`): clients
  send a few small frames (hello, pings), so no inflate state stays allocated between them;
- drops a connection's compressor when it has sent nothing for a while (`trim`) and starts a
  fresh one on the next send. RFC 7692 lets a sender stop referring to earlier messages at any time
  (context takeover is a permission, not a duty): the client's decompressor is untouched.

The direct frame writer (`HubWebSocketProtocol.write_text`/`write_binary`, `data_frame`) stands in for the libraries'
own send path (Starlette's `send_text`, uvicorn's ASGI send, websockets' Frame/extension/serialize
chain) because measurements justify it (docs/benchmarks.md): that path was 23 % of the ingress's
samples in the 2026-11-25 fan-out profile, and framing data frames here took the fan-out's ingress
CPU per delivery from 170 to 146 us (the same change made the auth dependencies async). Per frame
(bench/hotpath.py, 2-core development machine, 2026-11-30, a 235-byte batch frame): 2.3 us against 3.8 us for
websockets' `ServerProtocol.send_text` + `data_to_send` with deflate (10-bit window), 0.18 us against
1.0 us uncompressed, before the ASGI send's own await. The bytes are websockets' own
(tests/unit/test_wsproto.py); the handshake, reading, control frames and closing stay theirs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import struct
import zlib
from typing import Any, ClassVar, Literal

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import Frame
from websockets.protocol import State
from websockets.server import ServerProtocol

WRITER_KEY = "hub.writer"  # the ASGI scope key under which a connection finds its FrameWriter


class TrimmableDeflate(PerMessageDeflate):
    """permessage-deflate whose compressor can be dropped between messages and made again."""

    def _ensure_encoder(self) -> None:
        if self.local_no_context_takeover or not hasattr(self, "encoder"):
            self.encoder = zlib.compressobj(wbits=-self.local_max_window_bits, **self.compress_settings)

    def compress_message(self, payload: bytes) -> bytes:
        """One whole message compressed as RFC 7692 sends it (sync flush, its 4-byte tail removed):
        the same bytes `encode` makes for an unfragmented frame, without building Frame objects."""
        self._ensure_encoder()
        data = self.encoder.compress(payload) + self.encoder.flush(zlib.Z_SYNC_FLUSH)
        if self.local_no_context_takeover:
            del self.encoder
        return data[:-4]

    def trim(self) -> bool:
        """Drop the compressor kept between messages (its zlib memory); the next message gets a fresh one.
        False when there is none to drop (none made yet, or none kept: `local_no_context_takeover`)."""
        if self.local_no_context_takeover or not hasattr(self, "encoder"):
            return False
        del self.encoder
        return True

    def encode(self, frame: Frame) -> Frame:
        """websockets' own path (not the hub's hot path), after a trim: with a fresh compressor."""
        if not hasattr(self, "encoder"):
            self._ensure_encoder()
        return super().encode(frame)


def data_frame(payload: bytes, deflate: TrimmableDeflate | None, *, binary: bool = False) -> bytes:
    """A server's unmasked, unfragmented data frame (RFC 6455 5.2): text, or binary with `binary` (a
    MessagePack connection's, PROTOCOL.md section 8), compressed when `deflate` is given (RSV1 set). The
    hub's hot path: websockets' Frame/serialize/extension chain costs several times this per frame, and
    the bytes are identical (tests/unit/test_wsproto.py)."""
    opcode = 0x2 if binary else 0x1
    if deflate is not None:
        payload = deflate.compress_message(payload)
        first = 0xC0 | opcode  # FIN | RSV1 | opcode
    else:
        first = 0x80 | opcode  # FIN | opcode
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def _libc_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def give_back_memory() -> bool:
    """Return freed heap pages to the OS (glibc's malloc_trim). Freed compressors leave holes of a
    few KiB all over the heap that glibc keeps otherwise: the process's RSS would not go down."""
    return bool(_MALLOC_TRIM and _MALLOC_TRIM(0))


class _Factory(ServerPerMessageDeflateFactory):
    def process_request_params(self, params: Any, accepted_extensions: Any) -> tuple[Any, PerMessageDeflate]:
        response, ext = super().process_request_params(params, accepted_extensions)
        trimmable = TrimmableDeflate(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            ext.compress_settings,
        )
        return response, trimmable


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with the hub's permessage-deflate and the FrameWriter
    the hub's connections write through. Made per server with `with_deflate` (uvicorn builds one
    protocol object per connection from the class given as `uvicorn.Config(ws=...)`, with its own
    keyword arguments only, so the settings travel as attributes of a subclass)."""

    window_bits: ClassVar[int]  # the LZ77 window, both ways (Settings.deflate_window_bits, 9..15)
    mem_level: ClassVar[int]  # zlib's memLevel when compressing (Settings.deflate_mem_level, 1..9)

    @classmethod
    def with_deflate(cls, window_bits: int, mem_level: int) -> type[HubWebSocketProtocol]:
        """A subclass whose connections compress with a `window_bits` window (9 to 15) and zlib's
        `mem_level` (1 to 9); ValueError outside them."""
        if not 9 <= window_bits <= 15 or not 1 <= mem_level <= 9:
            raise ValueError(f"deflate window bits must be 9..15 and memLevel 1..9, not {window_bits}, {mem_level}")
        return type(cls.__name__, (cls,), {"window_bits": window_bits, "mem_level": mem_level})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            bits = self.window_bits
            self.conn = ServerProtocol(
                extensions=[
                    _Factory(
                        server_max_window_bits=bits,
                        client_max_window_bits=bits,
                        client_no_context_takeover=True,
                        compress_settings={"memLevel": self.mem_level},
                    )
                ],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )

    _deflate: TrimmableDeflate | None | Literal[False] = False  # looked up at the first write

    def handle_connect(self, event: Any) -> None:
        """uvicorn's hook when the upgrade request arrives; it also puts this protocol in the ASGI scope under
        WRITER_KEY, as the connection's FrameWriter."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope[WRITER_KEY] = self  # type: ignore[literal-required]

    async def send(self, message: Any) -> None:
        """uvicorn's ASGI send; once `websocket.accept` completes the handshake, the handshake's request and
        response are dropped (a few KiB per open connection)."""
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (headers and all) are not needed again: a few
            # KiB per connection for as long as it stays open.
            self.request = self.response = None  # type: ignore[assignment]

    # -- FrameWriter (hub.ingress.connection) ------------------------------------------------

    def can_write(self) -> bool:
        """The transport takes more now (not paused by a slow reader) and the socket is open."""
        return self.writable.is_set() and not self.close_sent and not self.disconnected

    async def wait_writable(self) -> None:
        """FrameWriter: until the transport takes more (uvicorn pauses it while the client reads too slowly)."""
        if not self.writable.is_set():
            await self.writable.wait()

    def write_text(self, text: str) -> None:
        """One text frame, framed (and compressed) and handed to the transport now. Data frames
        leave no state in websockets' protocol object, so framing them here keeps it consistent."""
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        self.transport.write(data_frame(text.encode(), self._negotiated_deflate()))

    def write_binary(self, data: bytes) -> None:
        """One binary frame (a MessagePack connection's), as `write_text` writes a text frame."""
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        self.transport.write(data_frame(data, self._negotiated_deflate(), binary=True))

    def trim(self) -> bool:
        """Free this connection's compressor (it is idle); True when there was one to free."""
        deflate = self._negotiated_deflate()
        return deflate is not None and deflate.trim()

    def _negotiated_deflate(self) -> TrimmableDeflate | None:
        """The connection's permessage-deflate, looked up once after the handshake; None: not offered."""
        if self._deflate is False:
            found = [e for e in self.conn.extensions if isinstance(e, TrimmableDeflate)]
            self._deflate = found[0] if found else None
        return self._deflate
