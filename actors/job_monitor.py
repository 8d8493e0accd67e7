"""JobMonitor: one actor per job. Runs the job (its Ray tasks), aggregates their progress, keeps the
job's state and publishes it to the educator's registry shard, coalesced; exits when the job ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from hub.errors import UpstreamError
from hub.jobstate import JobState, estimate_eta
from hub.pacing import UpdateCoalescer
from jobs.context import JobCancelled
from jobs.kinds import KINDS

log = logging.getLogger("hub.job")

SLOW_AFTER = 15.0  # seconds: after this, progress messages say larger documents take longer
PUBLISH_RETRIES = 30


class JobMonitor:
    def __init__(
        self,
        state: dict[str, Any],
        params: dict[str, Any],
        shard: Any,
        *,
        progress_interval: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = JobState.model_validate(state)
        self.job_id = self.state.job_id
        self.educator_id = self.state.educator_id
        self.kind = KINDS[self.state.kind]
        self.params = self.kind.params.model_validate(params)
        self.shard = shard  # an actors.handles.ShardClient (or a fake in unit tests)
        self.clock = clock
        self.started_at = clock()
        self._cancelled = False
        self._coalescer: UpdateCoalescer[dict[str, Any]] = UpdateCoalescer(progress_interval)
        self._wake = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._publisher: asyncio.Task[None] | None = None

    # -- JobContext ---------------------------------------------------------------------------

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        if self.state.terminal:
            return
        now = self.clock()
        elapsed = now - self.started_at
        if elapsed > SLOW_AFTER and "larger documents" not in message:
            message = f"{message} (still working: larger documents take longer)"
        percent = max(self.state.progress, min(99.0, percent))  # never goes back, 100 only on completion
        self._update(
            status="processing", progress=percent, message=message,
            eta_seconds=estimate_eta(self.started_at, now, percent), **fields,
        )

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check_cancelled(self) -> None:
        if self._cancelled:
            raise JobCancelled(self.job_id)

    # -- publishing ---------------------------------------------------------------------------

    def _update(self, result: Any = None, **changes: Any) -> None:
        transition = changes.get("status", self.state.status) != self.state.status
        self.state = self.state.advance(self.clock(), **changes)
        update = self.state.wire()
        if result is not None:
            update["result"] = result
        self._coalescer.add(update, transition)
        self._wake.set()
        if self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_loop())

    async def _publish_loop(self) -> None:
        while True:
            due = self._coalescer.due_in(self.clock())
            if due is None or due > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), due)
                except asyncio.TimeoutError:
                    pass
                continue
            await self._send()

    async def _send(self) -> None:
        async with self._send_lock:
            batch = self._coalescer.take(self.clock())
            if not batch:
                return
            for attempt in range(PUBLISH_RETRIES):
                try:
                    await self.shard.publish(batch)
                    return
                except UpstreamError as exc:  # the shard is restarting: it will be back
                    log.warning("job %s: publish failed (%s), retrying", self.job_id, exc)
                    await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
            log.error("job %s: gave up publishing %d updates", self.job_id, len(batch))

    async def flush(self) -> None:
        await self._send()
        if self._publisher is not None:
            self._publisher.cancel()

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> str:
        """Run the job to its end and publish every status; returns the final status."""
        log.info("job %s (%s) of %s starting", self.job_id, self.state.kind, self.educator_id)
        try:
            self._update(status="processing", progress=1.0, message="Starting")
            result = await self.kind.runner(self, self.params)
            self._update(status="completed", progress=100.0, message=self._done_message(result),
                         eta_seconds=None, result=result if result is not None else {})
        except (JobCancelled, asyncio.CancelledError):
            if not self.state.terminal:
                self._update(status="cancelled", message="Cancelled", eta_seconds=None)
        except Exception as exc:
            log.exception("job %s failed", self.job_id)
            if not self.state.terminal:
                reason = str(exc) or type(exc).__name__
                self._update(status="failed", message=f"Failed: {reason}", error=reason, eta_seconds=None)
        finally:
            await self.flush()
        log.info("job %s ended %s in %.2fs", self.job_id, self.state.status, self.clock() - self.started_at)
        return self.state.status

    def _done_message(self, result: Any) -> str:
        n = result.get("numQuestions") if isinstance(result, dict) else None
        took = self.clock() - self.started_at
        return f"Done: {n} questions in {took:.1f}s" if n is not None else f"Done in {took:.1f}s"

    async def cancel(self) -> None:
        self._cancelled = True

    async def status(self) -> dict[str, Any]:
        return self.state.wire()
