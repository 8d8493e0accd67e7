"""uvicorn's websockets (sans-I/O) protocol with the hub's permessage-deflate settings.

zlib's memory per connection is about 2**(wbits + 2) + 2**(memLevel + 9) bytes to compress and
2**wbits + 7 KiB to decompress: uvicorn's 12 bits and memLevel 5 cost ~43 KiB per connection; the
hub's small JSON frames compress nearly as well with a smaller window (see docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

DEFLATE = {"window_bits": 10, "mem_level": 4}  # set from Settings before uvicorn starts


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            bits = DEFLATE["window_bits"]
            self.conn = ServerProtocol(
                extensions=[
                    ServerPerMessageDeflateFactory(
                        server_max_window_bits=bits,
                        client_max_window_bits=bits,
                        compress_settings={"memLevel": DEFLATE["mem_level"]},
                    )
                ],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )
