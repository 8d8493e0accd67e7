"""What the relay delivers to: one interface for every kind of connection (a WebSocket connection,
hub.ingress.connection.Connection; a waiting long-poll, hub.ingress.polling.PollWaiter), so the relay
asks no `hasattr` of them (DESIGN.md, centrifuge's `Transport`). Pure: a typing.Protocol only."""

from __future__ import annotations

from typing import Protocol

from hub.core.errors import HubError
from hub.core.stream import Envelope


class Subscriber(Protocol):
    """One educator's subscriber on this ingress, held by the relay from `join` to `leave`."""

    @property
    def educator_id(self) -> str:
        """Whose stream it receives."""
        ...

    @property
    def session(self) -> str:
        """An id for log lines (a WebSocket's session id, a poll's)."""
        ...

    @property
    def queued(self) -> int:
        """Messages waiting to be sent (0 for a poll: it answers with what it holds)."""
        ...

    def offer(self, env: Envelope, text: str) -> bool:
        """Take one envelope and its JSON text (made once by the relay for everyone); True when this
        made the subscriber need a `flush`. Duplicates (seq already seen) are dropped here."""
        ...

    def flush(self) -> None:
        """Write what the offers queued (called once per pull, after the offers)."""
        ...

    def close(self, why: HubError | None = None, *, flush: bool = False) -> None:
        """End it with `why`'s close code and message (None: a normal close, 1000); with `flush`,
        after sending what is queued."""
        ...

    async def wait_closed(self) -> None:
        """After `close`: until the close is done (the close frame sent, the poll answered)."""
        ...

    def trim_idle(self, idle_since: float) -> bool:
        """Give back the compressor's memory when nothing was written since `idle_since` (a
        monotonic time); True when it did."""
        ...
