"""`sync_to_both_databases`: write to MongoDB and PostgreSQL concurrently.

The latency is the slower of the two, not the sum. The result says what each
store did; a store that was unavailable is queued for replay through the
caller's `queue_for_mongo` / `queue_for_postgres` hooks (which write to the
store that *does* have the change, so the queue is durable). Only when both
stores are unavailable does it raise `StorageUnavailable`. Conflicts and bugs
are reported per store and re-raised respectively.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

from parley.resilience.fallback import MONGODB, POSTGRESQL, MongoOperation, PostgresOperation
from parley.resilience.guard import StoreGuard
from parley.storage.errors import StorageConflict, StorageError, StorageUnavailable

M = TypeVar("M")
P = TypeVar("P")
log = structlog.get_logger("parley.dualwrite")


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


QueueHook = Callable[["DualWrite[M, P]"], Awaitable[None]]


def _classify(outcome: object) -> StorageError | None:
    if isinstance(outcome, StorageUnavailable | StorageConflict):
        return outcome
    if isinstance(outcome, BaseException):
        raise outcome  # a bug: never swallowed
    return None


async def sync_to_both_databases(
    mongo_operation: MongoOperation[M],
    postgres_operation: PostgresOperation[P],
    operation_name: str,
    *,
    mongo: StoreGuard[Any],
    postgres: StoreGuard[Any],
    queue_for_mongo: QueueHook[M, P] | None = None,
    queue_for_postgres: QueueHook[M, P] | None = None,
) -> DualWrite[M, P]:
    """Run both writes concurrently; return what succeeded; queue what failed."""
    mongo_outcome, postgres_outcome = await asyncio.gather(
        mongo.run(operation_name, mongo_operation),
        postgres.run(operation_name, postgres_operation),
        return_exceptions=True,
    )
    mongo_error, postgres_error = _classify(mongo_outcome), _classify(postgres_outcome)
    result: DualWrite[M, P] = DualWrite(
        None if mongo_error else mongo_outcome,  # type: ignore[arg-type]
        None if postgres_error else postgres_outcome,  # type: ignore[arg-type]
        mongo_error,
        postgres_error,
    )
    mongo_down = isinstance(mongo_error, StorageUnavailable)
    postgres_down = isinstance(postgres_error, StorageUnavailable)
    if mongo_down and postgres_down:
        raise StorageUnavailable(
            f"{operation_name}: both databases are unavailable",
            store="mongodb,postgresql",
            operation=operation_name,
        )
    if mongo_down and queue_for_mongo is not None:
        await _queue(queue_for_mongo, result, operation_name, MONGODB)
    if postgres_down and queue_for_postgres is not None:
        await _queue(queue_for_postgres, result, operation_name, POSTGRESQL)
    return result


async def _queue(hook: QueueHook[M, P], result: DualWrite[M, P], name: str, store: str) -> None:
    try:
        await hook(result)
    except StorageError as exc:
        # The change's own insurance marker is still durable in the other store;
        # replay will pick it up after the grace period.
        log.warning("replay_queue_mark_failed", operation=name, missed_store=store, error=str(exc))
    log.warning("dual_write_missed", operation=name, missed_store=store)
