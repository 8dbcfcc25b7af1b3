"""`sync_to_both_databases`: write to MongoDB and PostgreSQL concurrently.

The latency is the slower of the two, not the sum, and with `straggler_grace`
not even that: once one store has accepted the write, the other gets that much
longer (none when it is stalled: it missed a deadline and has not answered
since), then the answer goes out and the straggler is settled in the background
(its own deadline bounds it). Settling means: a store that turned out to be
unavailable is queued for replay through the caller's `queue_for_mongo` /
`queue_for_postgres` hooks (which write to the store that *does* have the
change, so the queue is durable), then `on_settled` sees the final outcome.

Only when both stores are unavailable does it raise `StorageUnavailable`.
Conflicts are reported per store; anything else (a bug) is re-raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

from parley.resilience._fallback import MONGODB, POSTGRESQL, MongoOperation, PostgresOperation
from parley.resilience._guard import StoreGuard
from parley.storage.deadline import detach
from parley.storage.errors import BreakerOpen, StorageConflict, StorageError, StorageUnavailable

M = TypeVar("M")
P = TypeVar("P")
log = structlog.get_logger("parley.dualwrite")


class StillWriting(StorageError):
    """The store had not answered when the response went out; it is settled later."""


@dataclass(frozen=True)
class DualWrite(Generic[M, P]):
    mongo: M | None
    postgres: P | None
    mongo_error: StorageError | None
    postgres_error: StorageError | None

    @property
    def mongo_ok(self) -> bool:
        return self.mongo_error is None

    @property
    def postgres_ok(self) -> bool:
        return self.postgres_error is None

    @property
    def stores(self) -> list[str]:
        """The stores that durably accepted the write."""
        accepted = [MONGODB] if self.mongo_ok else []
        return accepted + ([POSTGRESQL] if self.postgres_ok else [])


Hook = Callable[["DualWrite[M, P]"], Awaitable[None]]


@dataclass
class _Hooks(Generic[M, P]):
    name: str
    queue_for_mongo: Hook[M, P] | None = None
    queue_for_postgres: Hook[M, P] | None = None
    on_settled: Hook[M, P] | None = None


def _outcome(task: asyncio.Future[Any] | None) -> tuple[Any, StorageError | None]:
    if task is None or not task.done():
        return None, StillWriting("still writing", store="", operation="")
    failure = task.exception()
    if failure is None:
        return task.result(), None
    if isinstance(failure, StorageUnavailable | StorageConflict):
        return None, failure
    raise failure  # a bug: never swallowed


def _snapshot(mongo: asyncio.Future[M], postgres: asyncio.Future[P]) -> DualWrite[M, P]:
    mongo_value, mongo_error = _outcome(mongo)
    postgres_value, postgres_error = _outcome(postgres)
    return DualWrite(mongo_value, postgres_value, mongo_error, postgres_error)


async def sync_to_both_databases(
    mongo_operation: MongoOperation[M],
    postgres_operation: PostgresOperation[P],
    operation_name: str,
    *,
    mongo: StoreGuard[Any],
    postgres: StoreGuard[Any],
    queue_for_mongo: Hook[M, P] | None = None,
    queue_for_postgres: Hook[M, P] | None = None,
    on_settled: Hook[M, P] | None = None,
    straggler_grace: float | None = None,
) -> DualWrite[M, P]:
    """Run both writes concurrently; return what succeeded; queue what failed."""
    hooks = _Hooks(operation_name, queue_for_mongo, queue_for_postgres, on_settled)
    mongo_task = asyncio.ensure_future(mongo.run(operation_name, mongo_operation))
    postgres_task = asyncio.ensure_future(postgres.run(operation_name, postgres_operation))
    both = {mongo_task, postgres_task}
    try:
        done, pending = await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        first = done.pop()
        if pending and (straggler_grace is None or first.exception() is not None):
            await asyncio.wait(pending)
        elif pending:
            straggler = mongo if mongo_task in pending else postgres
            if not straggler.stalled:  # a stalled store is not waited for: see `Stall`
                await asyncio.wait(pending, timeout=straggler_grace)
    except asyncio.CancelledError:
        for task in both:
            task.cancel()
        raise
    result = _snapshot(mongo_task, postgres_task)
    if isinstance(result.mongo_error, StorageUnavailable) and isinstance(
        result.postgres_error, StorageUnavailable
    ):
        raise StorageUnavailable(
            f"{operation_name}: both databases are unavailable",
            store="mongodb,postgresql",
            operation=operation_name,
        )
    if mongo_task.done() and postgres_task.done():
        await _settle(result, hooks)
    else:
        settle_later = asyncio.ensure_future(_settle_when_done(mongo_task, postgres_task, hooks))
        detach(settle_later)
    return result


async def _settle_when_done(
    mongo_task: asyncio.Future[M], postgres_task: asyncio.Future[P], hooks: _Hooks[M, P]
) -> None:
    both: set[asyncio.Future[Any]] = {mongo_task, postgres_task}
    await asyncio.wait(both)
    await _settle(_snapshot(mongo_task, postgres_task), hooks)


async def _settle(result: DualWrite[M, P], hooks: _Hooks[M, P]) -> None:
    if isinstance(result.mongo_error, StorageUnavailable):
        await _queue(hooks.queue_for_mongo, result, hooks.name, MONGODB)
    if isinstance(result.postgres_error, StorageUnavailable):
        await _queue(hooks.queue_for_postgres, result, hooks.name, POSTGRESQL)
    if hooks.on_settled is not None:
        await hooks.on_settled(result)


async def _queue(hook: Hook[M, P] | None, result: DualWrite[M, P], name: str, store: str) -> None:
    error = result.mongo_error if store == MONGODB else result.postgres_error
    if isinstance(error, BreakerOpen):
        # Expected while the breaker is open; it logs a periodic count instead.
        log.debug("dual_write_missed", operation=name, missed_store=store)
    else:
        log.warning("dual_write_missed", operation=name, missed_store=store, error=str(error))
    if hook is None:
        return
    try:
        await hook(result)
    except StorageError as exc:
        # The change's own insurance marker is still durable in the other store;
        # replay will pick it up after the grace period.
        log.warning("replay_queue_mark_failed", operation=name, missed_store=store, error=str(exc))
