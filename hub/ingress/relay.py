"""The relay: one long-poll loop per registry shard, fanning each message out to this ingress's
connections of that educator. One outstanding Ray call per (ingress, shard), whatever the load.

Connections are Subscribers (hub.core.subscriber: a WebSocket's or a waiting long-poll's).
Isolation: a connection that fails to take a message is closed (1011, WriteFailed) alone; a message whose data
strict JSON cannot carry is made safe (hub.ingress.connection.data_json). A pump that dies anyway
is restarted with backoff (`hub_relay_restarts_total{shard}`), its shard's clients told to
reconnect and resume, and `stuck` reports it (GET /healthz answers 503 meanwhile)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

from actors.coalesce import Coalescer
from hub.core.errors import HubError, ServiceRestart, ShuttingDown, UpstreamError, WriteFailed
from hub.core.handles import RoomJoinRequest, ShardHandle
from hub.core.protocol import envelope_json
from hub.core.records import FeedItem, HelloReply, RoomJoinReply, RoomMember
from hub.core.sharding import shard_of
from hub.core.stream import Envelope, StreamPosition
from hub.core.subscriber import RoomSub, Subscriber
from hub.ingress.connection import INTERNAL, data_json
from hub.metrics import IngressMetrics

log = logging.getLogger("hub.relay")
conn_log = logging.getLogger("hub.conn")

SHUTTING_DOWN = "server shutting down: reconnect and resume"  # the close reason of 1001


class Relay:
    """This ingress's delivery from the registry shards to its Subscribers.

    `shards`: one ShardHandle per registry shard, the shard with index k at position k (what
    hub.core.sharding.shard_of picks). `metrics`: this ingress's counters (deliveries, poll cycles,
    relay restarts). `poll_timeout`: seconds each pull waits at a shard when there is nothing
    (Settings.poll_timeout); a pump quiet for twice that is `stuck`. Each instance is one ingress to
    the shards: `ingress_id` is "ingress-" and 12 hex digits, `conns` its subscribers by educator,
    `positions` its feed position at each shard (the shard's epoch, the feed number acknowledged)."""

    def __init__(self, shards: Sequence[ShardHandle], metrics: IngressMetrics, *, poll_timeout: float) -> None:
        self.shards = list(shards)
        self.metrics = metrics
        self.poll_timeout = poll_timeout
        self.ingress_id = f"ingress-{uuid.uuid4().hex[:12]}"
        self.conns: dict[str, set[Subscriber]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Health of each shard's delivery (monotonic times): when its pump last completed a pull
        # cycle, and since when it has been down (died, waiting to restart) if it is.
        self.stall_after = 2 * poll_timeout  # a live pump completes a cycle at least every poll_timeout
        self._last_cycle: dict[int, float] = {}
        self._down_since: dict[int, float] = {}
        # Each shard's feed position: the shard's epoch and the feed number last acknowledged.
        self.positions: dict[int, StreamPosition] = {}
        # Per shard, the feed `positions[k].seq` counts in (FeedBatch.feed): named in each pull, so an
        # ack never confirms messages of a feed the shard made again after dropping ours.
        self._feed_ids: dict[int, str] = {}
        self._restart_delay: dict[int, float] = {}
        # Hellos and unwatches coalesce per shard: one call when idle, batches under a burst.
        self._hellos = [Coalescer(partial(s.hello_many, self.ingress_id)) for s in shards]
        self._unwatches = [Coalescer(partial(s.unwatch_many, self.ingress_id), max_batch=1000) for s in shards]
        # Rooms (PROTOCOL.md section 7): the subscribers in each room, and joins and leaves coalesced
        # per shard as hellos are.
        self.rooms: dict[str, set[Subscriber]] = {}
        self._room_joins = [Coalescer(partial(s.room_join_many, self.ingress_id)) for s in shards]
        self._room_leaves = [Coalescer(partial(s.room_leave_many, self.ingress_id), max_batch=1000) for s in shards]
        # Leaves on their way to a shard, by (room, session): a join of the same connection waits for its
        # leave, or the shard could take the join first and then count the connection out.
        self._leaving: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._room_joins_pending = 0  # joins waiting for their shard's answer (_answers_first)

    def _index(self, educator_id: str) -> int:
        return shard_of(educator_id, len(self.shards))

    def shard_for(self, educator_id: str) -> ShardHandle:
        """The handle of the shard that holds `educator_id`'s stream (hub.core.sharding.shard_of)."""
        return self.shards[self._index(educator_id)]

    @property
    def connection_count(self) -> int:
        """How many subscribers this ingress holds now: WebSocket connections and waiting long-polls (the
        `hub_connections` gauge)."""
        return sum(len(c) for c in self.conns.values())

    # -- connections -------------------------------------------------------------------------

    async def join(self, conn: Subscriber, resume: StreamPosition | None) -> HelloReply:
        """Register `conn` (buffering what arrives meanwhile) and get its hello answer from the shard."""
        self.conns.setdefault(conn.educator_id, set()).add(conn)
        try:
            return await self._hellos[self._index(conn.educator_id)].call((conn.educator_id, resume))
        except BaseException:
            self.leave(conn, unwatch=False)
            raise

    async def join_room(
        self, conn: Subscriber, room: str, resume: StreamPosition | None, present: bool, info: dict[str, Any] | None
    ) -> RoomJoinReply:
        """Put `conn` in `room` (a RoomSub holds its envelopes until the caller starts it with the answer)
        and join it at the room's shard: the shard's RoomJoinReply. UpstreamError when the shard does
        not answer (the connection is then not in the room)."""
        sub = conn.rooms[room] = RoomSub(present, info)
        self.rooms.setdefault(room, set()).add(conn)
        request = (room, conn.session, conn.educator_id, present, info, resume)
        # One connection's joins and leaves of a room reach the shard in the order made, though they go
        # in separate batches: a join waits for a leave of that connection still on its way (a leave
        # then join, as a component remounting), and a leave for its join (`_room_leave`: one that
        # overtook its join would leave the connection present at the shard for good). The call goes
        # on when its caller is cancelled (a connection closing).
        call = sub.joining = asyncio.ensure_future(self._join_after(self._leaving.get((room, conn.session)), request))
        self._room_joins_pending += 1
        try:
            reply: RoomJoinReply = await asyncio.shield(call)
            return reply
        except BaseException:
            # Failed or cancelled: whether the shard took the join is unknown (a socket broken in
            # flight), so a leave follows it; a leave of a connection not there changes nothing.
            if self._drop_from_room(conn, room):
                self._schedule_leave(room, conn.session, call)
            raise
        finally:
            self._room_joins_pending -= 1

    async def _join_after(self, leaving: asyncio.Task[None] | None, request: RoomJoinRequest) -> RoomJoinReply:
        if leaving is not None:  # the connection's leave goes first (it logs its own failure)
            await asyncio.wait([leaving])
        reply: RoomJoinReply = await self._room_joins[self._index(request[0])].call(request)
        return reply

    def leave_room(self, conn: Subscriber, room: str) -> bool:
        """Take `conn` out of `room` and tell the room's shard (in a task, coalesced per shard); False when
        it was not in it."""
        sub = conn.rooms.get(room)
        if sub is None:
            return False
        self._drop_from_room(conn, room)
        self._schedule_leave(room, conn.session, sub.joining)
        return True

    def _schedule_leave(self, room: str, session: str, joining: Any) -> None:
        key = (room, session)
        task = self._leaving[key] = asyncio.get_running_loop().create_task(self._room_leave(room, session, joining))
        task.add_done_callback(lambda done: self._leaving.pop(key) if self._leaving.get(key) is done else None)

    def _drop_from_room(self, conn: Subscriber, room: str) -> bool:
        """Take `conn` out of `room` here; False when it was not in it."""
        if conn.rooms.pop(room, None) is None:
            return False
        held = self.rooms.get(room)
        if held is not None:
            held.discard(conn)
            if not held:
                del self.rooms[room]
        return True

    async def _room_leave(self, room: str, session: str, joining: Any = None) -> None:
        if joining is not None and not joining.done():
            await asyncio.wait([joining])  # its join first, whatever came of it
        try:
            await self._room_leaves[self._index(room)].call((room, session))
        except UpstreamError as exc:
            log.warning("leave %s from %s: %s", session, room, exc)

    def leave(self, conn: Subscriber, *, unwatch: bool = True) -> None:
        """Stop delivering to `conn`; a subscriber not held is ignored. With `unwatch` the shard is then
        told (in a task on the running loop, coalesced per shard) to count one watcher fewer for its
        educator; an unwatch the shard does not take (UpstreamError) is logged. `unwatch=False`: a `join`
        whose hello failed. Its rooms are left too (`leave_room`)."""
        for room in list(conn.rooms):
            self.leave_room(conn, room)
        held = self.conns.get(conn.educator_id)
        if held is None or conn not in held:
            return
        held.discard(conn)
        if not held:
            del self.conns[conn.educator_id]
        if unwatch:
            asyncio.get_running_loop().create_task(self._unwatch(conn.educator_id))

    async def _unwatch(self, educator_id: str) -> None:
        try:
            await self._unwatches[self._index(educator_id)].call(educator_id)
        except UpstreamError as exc:
            log.warning("unwatch %s: %s", educator_id, exc)

    # -- the pumps ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start one supervised pump per shard (on the running loop)."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for shard in self.shards:
            self._last_cycle[shard.index] = now
        self._tasks = [loop.create_task(self._supervise(shard)) for shard in self.shards]

    def stuck(self, now: float) -> str | None:
        """Why some shard's delivery is stuck, or None: its pump is down (restarting after a
        failure, or ended), or has not completed a pull cycle for `stall_after` seconds (twice the
        poll timeout: a live pump completes one at least every poll timeout). `now`: monotonic."""
        if not self._tasks:
            return None  # not started
        for shard, task in zip(self.shards, self._tasks, strict=False):
            k = shard.index
            if task.done() and not self._stopping:
                return f"shard {k}: its relay task ended"
            down = self._down_since.get(k)
            if down is not None:
                return f"shard {k}: relay task failed {now - down:.0f}s ago and is restarting"
            quiet = now - self._last_cycle.get(k, now)
            if quiet > self.stall_after:
                return f"shard {k}: no delivery cycle completed for {quiet:.0f}s (bound {self.stall_after:g}s)"
        return None

    async def stop(self) -> None:
        """Stop the pumps (cancelled and awaited) and detach this ingress from every shard (a shard that
        does not answer is ignored). Connections are not closed here: `close_all` or `drain` first."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(s.detach(self.ingress_id) for s in self.shards), return_exceptions=True)

    def _held_on(self, shard: ShardHandle) -> list[str]:
        """One entry per connection, so the shard's watch counts match this ingress's connections."""
        return [e for e, conns in self.conns.items() if self.shard_for(e) is shard for _ in conns]

    def _rooms_held_on(self, shard: ShardHandle) -> list[RoomMember]:
        """Every membership of this ingress's subscribers in the rooms `shard` holds (a re-attach), but
        those of subscribers that are closing (the 1012 of a restart): they would count as present until
        their leave, and their clients join again (their leave is then ignored by the shard)."""
        return [
            (room, conn.session, conn.educator_id, conn.rooms[room].present, conn.rooms[room].info)
            for room, conns in self.rooms.items()
            if self.shard_for(room) is shard
            for conn in conns
            if room in conn.rooms and not conn.closing
        ]

    async def _supervise(self, shard: ShardHandle) -> None:
        """Run the shard's pump; restart it with backoff when it dies of an unexpected exception."""
        k = shard.index
        while not self._stopping:
            try:
                await self._pump(shard)
                return
            except Exception:
                # Doubles from 0.05 s to 5 s while it keeps failing; a completed cycle resets it.
                delay = self._restart_delay.get(k, 0.05)
                self._restart_delay[k] = min(delay * 2, 5.0)
                log.exception("shard %d relay task failed; restarting in %.2fs", k, delay, extra={"shard": k})
                self.metrics.relay_restarts.inc(shard=str(k))
                self._down_since.setdefault(k, time.monotonic())
                # What it was delivering is unknown: its clients resume from the stream's history.
                self._restart_clients(shard, "delivery restarted: reconnect and resume")
                await asyncio.sleep(delay)

    async def _pump(self, shard: ShardHandle) -> None:
        k = shard.index
        known = self.positions.get(k)
        ack = known.seq if known is not None else 0
        backoff = 0.05
        while not self._stopping:
            started = time.monotonic()
            try:
                reply = await shard.pull(self.ingress_id, ack, self.poll_timeout, self._feed_ids.get(k))
            except UpstreamError as exc:
                log.warning(
                    "shard %d pull failed: %s; retrying in %.2fs",
                    shard.index,
                    exc,
                    backoff,
                    extra={"shard": shard.index, "ingress": self.ingress_id},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            done = time.monotonic()
            self.metrics.poll_cycle.observe(done - started)
            self._last_cycle[k] = done
            if self._down_since:
                self._down_since.pop(k, None)
                self._restart_delay.pop(k, None)
            known = self.positions.get(k)
            if known is not None and known.epoch != reply.epoch:
                self._restart_clients(shard, "registry shard restarted: reconnect and resume")
            if reply.unknown:
                if self._feed_ids.pop(k, None) is not None:
                    # The shard dropped the feed this ingress was reading (its lease lapsed, or the
                    # shard restarted): what it published meanwhile never reached these clients.
                    self._restart_clients(shard, "ingress lease lapsed: reconnect and resume")
                ack = 0
                self.positions[k] = StreamPosition(reply.epoch, ack)
                await self._attach(shard)
                continue
            if reply.lost:
                self._restart_clients(shard, "ingress fell behind: reconnect and resume")
            if self._feed_ids.get(k) != reply.feed:
                if k in self._feed_ids and not await self._attach(shard):
                    continue  # the next pull names the old feed again, and the attach is tried again
                ack = 0  # another feed than the one acknowledged so far: its numbers start again
                self._feed_ids[k] = reply.feed
            items = reply.items
            if items:
                ack = items[-1][0]
            self.positions[k] = StreamPosition(reply.epoch, ack)
            if items:
                await self._answers_first()
                self._fan_out(items)

    async def _attach(self, shard: ShardHandle) -> bool:
        """Attach to `shard` with everything this ingress holds there (its connections' watches and room
        memberships: a polling member's presence, which no 1012 ends, among them): when the shard has no
        feed for it, or made its feed again without this attach (it restarted, or dropped the feed when
        the lease lapsed, and a hello or a room join reached it before this ingress's pull: that feed
        holds only those). False when the shard did not take it (logged)."""
        try:
            await shard.attach(self.ingress_id, self._held_on(shard), self._rooms_held_on(shard))
        except UpstreamError as exc:
            log.warning("shard %d attach failed: %s", shard.index, exc)
            return False
        return True

    async def _answers_first(self) -> None:
        """Let room joins answered together with this pull send their `joined` before its fan-out: a
        join's `presence` message to a large room's members is one synchronous fan-out (1,000 members:
        tens of ms), and the joiner's answer, which came in the same read, is some loop turns from its
        frame (here 2: the join Coalescer's task, then the caller's; a join that goes by a task and
        `asyncio.shield` of its own takes 4), so up to 8 turns. No wait when no join is pending; a
        turn with nothing else ready costs microseconds."""
        for _ in range(8):
            if not self._room_joins_pending:
                return
            await asyncio.sleep(0)

    def _fan_out(self, items: list[FeedItem]) -> None:
        """Offer a pull's envelopes to their connections, then write each touched connection once:
        everything one pull brought a connection leaves in one frame, with no task switch."""
        conns = self.conns
        by_type: dict[str, int] = {}
        offered: dict[str, int] = {}
        touched: list[Subscriber] = []
        make = Envelope._make
        # A message published to many educators arrives as many envelopes sharing one `data` object
        # (pickle keeps the sharing): serialise that data once for all of them.
        texts: dict[int, str] = {}
        rooms = self.rooms
        for _, raw in items:
            env = make(raw)
            by_type[env.type] = by_type.get(env.type, 0) + 1
            held = conns.get(env.educator_id) if env.room is None else rooms.get(env.room)
            if not held:
                continue
            shared = texts.get(id(env.data))
            if shared is None:
                shared = texts[id(env.data)] = data_json(env.data, self.metrics)
            text = envelope_json(env.seq, env.type, env.ts, env.data, shared, env.room)
            offered[env.type] = offered.get(env.type, 0) + len(held)
            for conn in held:
                try:
                    if conn.offer(env, text):
                        touched.append(conn)
                except Exception:
                    self._failed(conn, "offer")
        for conn in touched:
            try:
                conn.flush()
            except Exception:
                self._failed(conn, "flush")
        for mtype, n in by_type.items():
            self.metrics.messages_in.inc(n, type=mtype)
        for mtype, n in offered.items():
            self.metrics.deliveries.inc(n, type=mtype)

    def _failed(self, conn: Subscriber, where: str) -> None:
        """One connection failed to take a message (call from an `except`): close it with 1011
        (WriteFailed), alone; the pump goes on with the others."""
        why = WriteFailed(INTERNAL)
        conn_log.exception("[%s] %s failed; closing %d", conn.session, where, why.close_code)
        try:
            conn.close(why)
        except Exception:
            conn_log.exception("closing a failed connection failed too")
            # after the fan-out loop, which may be iterating over this connection's set now
            asyncio.get_running_loop().call_soon(self.leave, conn)

    def trim_idle(self, idle_since: float) -> int:
        """Free the compressors of connections that wrote nothing since `idle_since` (monotonic)."""
        trimmed = 0
        for conns in self.conns.values():
            for conn in conns:
                if conn.trim_idle(idle_since):
                    trimmed += 1
        return trimmed

    def _restart_clients(self, shard: ShardHandle, reason: str) -> None:
        """Close (1012, ServiceRestart with `reason`) every connection fed by `shard`: its educator's
        stream, or a room it is in, is held there (they resume; a room's new epoch gets a fresh
        `joined`, PROTOCOL.md section 7)."""
        for educator_id, conns in list(self.conns.items()):
            if self.shard_for(educator_id) is shard:
                for conn in conns:
                    conn.close(ServiceRestart(reason))
        for room, conns in list(self.rooms.items()):
            if self.shard_for(room) is shard:
                for conn in list(conns):
                    conn.close(ServiceRestart(reason))

    def close_all(self, why: HubError, *, flush: bool = False) -> None:
        """Close every connection with `why` (its close code and message)."""
        for conns in self.conns.values():
            for conn in conns:
                conn.close(why, flush=flush)

    async def drain(self, timeout: float) -> None:
        """Graceful stop: every connection gets what is queued for it, then 1001 (resume elsewhere)."""
        held = [c for conns in self.conns.values() for c in conns]
        self.close_all(ShuttingDown(SHUTTING_DOWN), flush=True)
        waits = [c.wait_closed() for c in held]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), timeout)
            except TimeoutError:
                log.warning("drain: %d connections still open after %.1fs", len(waits), timeout)
        log.info("drained %d connections", len(held))
