"""Partial results (PROTOCOL.md section 9) in a job's monitor: the finished items a job reports
(`ctx.item`), kept in the job store with the state that counts them before they are published, and
what a monitor restarted after losing its node goes on from (the kept items, the progress clients
have seen). The pure rules are hub.core.items; this is the part of actors.job_monitor.JobMonitor
that applies them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hub.core import strictjson
from hub.core.errors import UpstreamError
from hub.core.handles import ShardHandle, StoreHandle
from hub.core.items import KeptItem, check_item, item_payload, resumed_progress
from hub.core.jobstate import JobState
from jobs.words import plural

log = logging.getLogger("hub.job")

RESTARTED = "Restarted after losing its node or worker process (attempt {attempt}): starting over"
RESUMED = "Restarted after losing its node or worker process (attempt {attempt}): going on from the {kept} kept"


class JobItems:
    """The partial-results part of a JobMonitor (a mixin: the monitor has the attributes and methods
    declared here)."""

    state: JobState
    job_id: str
    shard: ShardHandle
    store: StoreHandle
    _update: Callable[..., None]
    _retry: Callable[..., Any]

    def _init_items(self) -> None:
        # The finished items, {index: value}, kept in the store (those of earlier attempts loaded on a
        # restart), the job's count of items when the kind gave it, the progress this run started from
        # (a restarted one goes on from the kept progress) and the items kept before a restart that
        # were never published.
        self._items: dict[int, Any] = {}
        self._items_total: int | None = None
        self._progress_base = 0.0
        self._unsent: list[KeptItem] = []

    def item(self, index: int, value: Any, total: int | None = None) -> None:
        """JobContext.item: item `index` (from 0) of the job's result is done with `value` (a quiz's
        question dict, as the result will hold it; any JSON value for a custom kind); `total`: how many
        items the job makes (given once is enough; it checks the indexes). The item is kept in the job
        store with the state that counts it (`itemsDone`), then published as the `item` of a status
        message ({index, total, question} for a quiz, {index, total, value} otherwise: hub.core.items),
        never coalesced with another update; in that order, so an item a client has seen survives a
        restart of this monitor. An index already kept (by this run or one before a restart) is not
        sent again. ValueError for an index that is not a whole number from 0 below `total`. Ignored
        once the job has ended. Call it on the monitor's event loop."""
        if self.state.terminal:
            return
        if total is not None:
            self._items_total = total
        check_item(index, self._items_total)
        if index in self._items:
            log.debug("job %s: item %d was kept already; not sent again", self.job_id, index)
            return
        # As a result is: what strict JSON cannot carry (a set, NaN, an object) is made safe here, so the
        # store, every client and a restarted run's done_items hold the same value.
        value, unsafe = strictjson.made_safe(value)
        if unsafe is not None:
            log.warning("job %s: item %d made safe for strict JSON: %s", self.job_id, index, unsafe)
        self._items[index] = value
        payload = item_payload(self.state.kind, index, value, self._items_total)
        self._update(
            status="processing",
            items_done=len(self._items),
            extra={"item": payload},
            keep=KeptItem(index, self._items_total, value),
        )

    async def done_items(self) -> dict[int, Any]:
        """JobContext.done_items: the items kept so far, {index: value}: on a restarted monitor those its
        earlier attempts finished (read from the job store at its start), which the runner should not
        compute again; empty on a first run before its first `item`."""
        return dict(self._items)

    async def _resume_start(self, attempt: int) -> dict[str, Any]:
        """What a restarted monitor's first `processing` carries: the items its earlier attempts kept
        (loaded from the store for `done_items`) and a progress no lower than any client has seen (the
        store's and the shard's: hub.core.items.resumed_progress), from which its ETA is reckoned. Items
        kept but not yet published when the monitor was lost (the last ones kept, past the count the
        shard holds) are published after it (`_publish_unsent`)."""
        kept = list(await self._retry("store", lambda: self.store.items(self.job_id)) or [])
        self._items = {index: value for index, _, value in kept}
        totals = [total for _, total, _ in kept if total is not None]
        self._items_total = max(totals) if totals else None
        stored = await self._retry("store", lambda: self.store.get(self.job_id))
        try:
            live = await self.shard.job(self.job_id)
        except UpstreamError:
            live = None
        if live is not None:
            self._unsent = kept[live.items_done or 0 :]
        progress = resumed_progress(
            stored.progress if stored is not None else None, live.progress if live is not None else None
        )
        self._progress_base = progress
        if self._items:
            log.info("job %s: going on from %d kept items at %.1f %%", self.job_id, len(self._items), progress)
            message = RESUMED.format(attempt=attempt, kept=plural(len(self._items), "finished item"))
        else:
            message = RESTARTED.format(attempt=attempt)
        return {"message": message, "attempt": attempt, "progress": progress}

    def _publish_unsent(self) -> None:
        """Publish the items a lost monitor kept but had not published (already in the store)."""
        for index, total, value in self._unsent:
            payload = item_payload(self.state.kind, index, value, total)
            self._update(status="processing", extra={"item": payload})
        self._unsent = []
