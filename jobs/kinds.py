"""Job kinds: what each runs and with which parameters (`jobs.params`; validated at submission,
422 `InvalidParams` on bad ones).

Built-in kinds live here; custom kinds are registered at run time by a notebook or service
(`jobs.job_kind`) and kept by the job store actor, where monitors find them by name.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from hub.core.errors import InvalidInput as InvalidInput  # raised by job kinds: shown as it is
from hub.core.errors import InvalidParams
from hub.core.eta import valid_size
from hub.core.handles import StoreHandle
from jobs import document_job, quiz_job
from jobs.context import JobContext
from jobs.params import (
    MAX_UPLOAD_KEY,
    DocumentProcessingParams,
    QuestionReplaceParams,
    QuizGenerationParams,
)
from jobs.params import (
    AnyParams as AnyParams,
)
from jobs.params import (
    Params as Params,  # what custom kinds subclass (the README shows `from jobs.kinds import Params`)
)

Runner = Callable[[JobContext, Any], Any]

log = logging.getLogger("hub.job")


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its `name` (the `kind` a submission names), the pydantic model its `params`
    must fit (422 InvalidParams otherwise), the `runner` that does the work, and what a job of the
    kind carries and asks for (the fields below). Register one with `register_kind` (built in) or
    `jobs.job_kind` (custom, at run time)."""

    name: str
    params: type[BaseModel]  # the built-in kinds' are jobs.params.Params; a custom kind's any pydantic model
    runner: Runner  # async def or plain def (run on a thread) taking (ctx, params)
    ids: Callable[[Any], dict[str, Any]] = lambda p: {}  # routing ids a job state carries
    message_extra: Callable[[Any], dict[str, Any] | None] | None = None  # added to `completed`
    # What the job's monitor actor asks Ray for, e.g. {"num_cpus": 1, "num_gpus": 1} for a kind that
    # computes in the monitor itself. Coordinating monitors (the built-in kinds, whose work runs in
    # their own Ray tasks) ask for nothing: num_cpus=0.
    resources: dict[str, float] | None = None
    # Refuses at submission, with InvalidInput (422), what the job store already shows to be wrong
    # (a quiz or document that is not the educator's): async (store, educator_id, params) -> None.
    check: Callable[[StoreHandle, str, Any], Awaitable[None]] | None = None
    # Partial results (PROTOCOL.md section 9): a job of the kind reports its finished items
    # (`ctx.item`), so its state carries `itemsDone` from its start (0), not only from its first item.
    reports_items: bool = False

    def __post_init__(self) -> None:
        """ValueError (a sentence) for `resources` Ray could not place a monitor with: each amount
        must be a finite number >= 0 under a resource's name (`num_cpus`, `num_gpus`, `memory` in
        bytes, or a custom resource), checked here so that a kind is refused when it is registered,
        not at every submission."""
        if self.resources is not None:
            problem = resources_problem(self.resources)
            if problem is not None:
                raise ValueError(f"job kind {self.name!r}: {problem}")

    async def call(self, ctx: Any, params: Any) -> Any:
        """Run the kind's runner with (ctx, params) and return its result (the job's result): awaited
        when it is async, else on a worker thread with a context whose calls hop back to this
        loop. What the runner raises comes out as it is."""
        if inspect.iscoroutinefunction(self.runner):
            return await self.runner(ctx, params)
        # The thread's context is the JobContext with link and drained blocking instead of awaitable.
        thread_ctx: Any = _ThreadContext(ctx, asyncio.get_running_loop())
        return await asyncio.to_thread(self.runner, thread_ctx, params)


def resources_problem(resources: Any) -> str | None:
    """What is wrong with a kind's `resources` (a sentence), or None: a dict of resource names (str)
    to amounts (int or float, finite, >= 0), e.g. {"num_cpus": 1, "num_gpus": 1, "my_resource": 2}
    (Ray's actor options: num_cpus, num_gpus, memory, and custom resources by name)."""
    example = 'for example {"num_gpus": 1, "my_resource": 2}'
    if not isinstance(resources, dict):
        return f"resources must be a dict of resource names to amounts, {example}; not {type(resources).__name__}"
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            return f"resources must be named by non-empty strings, {example}; not {name!r}"
        number = isinstance(amount, int | float) and not isinstance(amount, bool)
        if not number or amount != amount or amount in (float("inf"), float("-inf")) or amount < 0:
            return f"resources[{name!r}] is {amount!r}: an amount must be a number >= 0, {example}"
    return None


class _ThreadContext:
    """A JobContext for a plain function on a worker thread: progress hops to the monitor's loop."""

    def __init__(self, ctx: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._ctx = ctx
        self._loop = loop
        self.job_id = ctx.job_id
        self.educator_id = ctx.educator_id
        self.store = ctx.store

    def track(self, ref: Any) -> Any:
        self._loop.call_soon_threadsafe(self._ctx.track, ref)
        return ref

    def progress(self, percent: float, message: str, **fields: Any) -> None:
        self._loop.call_soon_threadsafe(lambda: self._ctx.progress(percent, message, **fields))

    def link(self, on_item: Callable[[Any], None] | None = None) -> Any:
        """JobContext.link from the thread (not awaitable here): `on_item` runs on the monitor's loop."""
        return asyncio.run_coroutine_threadsafe(self._ctx.link(on_item), self._loop).result()

    def drained(self, link: Any) -> None:
        """JobContext.drained from the thread: blocks until the link's items are handled."""
        asyncio.run_coroutine_threadsafe(self._ctx.drained(link), self._loop).result()

    def item(self, index: int, value: Any, total: int | None = None) -> None:
        """JobContext.item from the thread: returns once the monitor's loop has taken the item (it is
        then kept and published in the order of the calls); ValueError as there."""

        async def take() -> None:
            self._ctx.item(index, value, total)

        asyncio.run_coroutine_threadsafe(take(), self._loop).result()

    def done_items(self) -> dict[int, Any]:
        """JobContext.done_items from the thread (not awaitable here): blocks for {index: value}."""
        return dict(asyncio.run_coroutine_threadsafe(self._ctx.done_items(), self._loop).result())

    @property
    def cancelled(self) -> bool:
        return bool(self._ctx.cancelled)

    def check_cancelled(self) -> None:
        self._ctx.check_cancelled()


KINDS: dict[str, JobKind] = {}


def register_kind(kind: JobKind) -> JobKind:
    """Make `kind` a built-in kind of this process (replacing one of the same name); returns it."""
    KINDS[kind.name] = kind
    return kind


def validate_with(job_kind: JobKind, params: dict[str, Any], *, max_upload: int | None = None) -> BaseModel:
    """`params` as `job_kind`'s model; a document upload over `max_upload` bytes (Settings.max_upload;
    None: not checked) is refused with the rest. InvalidParams (422) naming each bad field."""
    try:
        return job_kind.params.model_validate(params, context={MAX_UPLOAD_KEY: max_upload})
    except ValidationError as exc:
        raise InvalidParams.of(exc, "params") from None


def unknown_kind(kind: str, custom: list[str] = []) -> InvalidParams:  # noqa: B006 (read only)
    """The 422 error (to raise) for a submission naming `kind`, which no kind has: it lists the
    built-in kinds and the `custom` ones the job store holds."""
    names = sorted([*KINDS, *custom])
    return InvalidParams(
        [{"loc": ["body", "kind"], "msg": f"unknown job kind {kind!r}; one of {names}", "type": "value_error"}]
    )


async def resolve_kind(name: str, store: StoreHandle | None) -> JobKind | None:
    """A built-in kind, or a custom one the job store holds (pickled by value: see `pack_kind`)."""
    kind = KINDS.get(name)
    if kind is None and store is not None:
        kind = load_kind(await store.kind(name))
    return kind


def load_kind(blob: Any) -> JobKind | None:
    """The custom kind a store's blob holds (pickled by value: `pack_kind`); None for None."""
    if blob is None:
        return None
    from ray import cloudpickle

    kind: JobKind = cloudpickle.loads(blob)
    return kind


def job_size(params: Any) -> float | None:
    """A job's size in items of its kind's pace (hub.core.eta): `params.job_size()` for a model built on
    Params (1 unless the kind says otherwise), 1 for any other model; None (no prior, no pace
    recorded) when a custom kind's job_size raises or is not a finite number > 0."""
    if not isinstance(params, Params):
        return 1.0
    try:
        size = params.job_size()
    except Exception:
        log.warning("%s.job_size() failed: no ETA before its jobs' progress", type(params).__name__, exc_info=True)
        return None
    if valid_size(size) is None:
        log.warning("%s.job_size() gave %r, not a number > 0: no ETA before progress", type(params).__name__, size)
    return valid_size(size)


def pack_kind(kind: JobKind) -> bytes:
    """Pickle a custom kind by value, so the store, the ingress and monitors can load it without
    importing the notebook's or script's own modules."""
    import sys

    from ray import cloudpickle

    if kind.name in KINDS:
        raise ValueError(f"{kind.name!r} is a built-in job kind")
    for obj in (kind.runner, kind.params):
        module = sys.modules.get(getattr(obj, "__module__", "__main__"))
        if (
            module is not None
            and module.__name__ not in ("__main__", "builtins")
            and not module.__name__.startswith(("jobs.", "hub.", "actors.", "pydantic"))
        ):
            cloudpickle.register_pickle_by_value(module)
    return cloudpickle.dumps(kind)


def _load_builtin() -> None:
    register_kind(
        JobKind(
            "quiz_generation",
            QuizGenerationParams,
            quiz_job.run,
            lambda p: {"quiz_id": p.quiz_id, "document_id": p.document_id},
            check=quiz_job.check_quiz,
            reports_items=True,
        )
    )
    register_kind(
        JobKind(
            "question_replace",
            QuestionReplaceParams,
            quiz_job.replace_question,
            lambda p: {"quiz_id": p.quiz_id, "question_id": p.question_id},
            message_extra=lambda r: {"question": r["question"]},
            check=quiz_job.check_replace,
        )
    )
    register_kind(
        JobKind(
            "document_processing", DocumentProcessingParams, document_job.run, lambda p: {"document_id": p.document_id}
        )
    )


_load_builtin()
