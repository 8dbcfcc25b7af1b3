"""`with_mongo_fallback`: run an operation on MongoDB, on PostgreSQL when MongoDB
is unavailable (down, frozen past the deadline, or its breaker open).

Only unavailability falls back. A conflict or a bug (anything that is not
`StorageUnavailable`) surfaces unchanged, so fallback never hides an error.
Each attempt that actually failed logs one line ("[NAME] MongoDB failed,
falling back to PostgreSQL"); while a breaker is open the breaker logs a
periodic count instead.

With `hedge_after`, a primary that has not answered by then is raced against
the secondary and the first answer wins. The slow call is left to finish on its
own, so the breaker still learns whether the store is failing. With `complete`,
a hedge's answer wins only if it is complete: a mirror that has not caught up
yet (a profile or conversation replay has not brought yet) answers quickly and
wrongly, so the primary is awaited instead, and the mirror's answer is used
only if the primary then fails (seen: a send right after sign-up rendered its
author as "Unknown user" because PostgreSQL took 156 ms and the hedge to
MongoDB's mirror, which lacked the new profile, won).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from sqlalchemy.ext.asyncio import AsyncSession

from parley.resilience._guard import StoreGuard
from parley.storage.deadline import detach
from parley.storage.errors import BreakerOpen, StorageUnavailable

T = TypeVar("T")
log = structlog.get_logger("parley.fallback")

MongoOperation = Callable[[AsyncDatabase[dict[str, Any]]], Coroutine[Any, Any, T]]
PostgresOperation = Callable[[AsyncSession], Coroutine[Any, Any, T]]
Operation = Callable[[Any], Coroutine[Any, Any, T]]

MONGODB = "mongodb"
POSTGRESQL = "postgresql"
LABELS = {MONGODB: "MongoDB", POSTGRESQL: "PostgreSQL"}


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A result and the store that produced it ("mongodb" or "postgresql")."""

    value: T
    source: str


async def with_mongo_fallback(
    mongo_operation: MongoOperation[T],
    postgres_operation: PostgresOperation[T],
    operation_name: str,
    *,
    mongo: StoreGuard[Any],
    postgres: StoreGuard[Any],
    hedge_after: float | None = None,
) -> Sourced[T]:
    """Run `mongo_operation`; if MongoDB is unavailable, `postgres_operation`.

    Both operations receive their store's handle (a MongoDB database, a
    PostgreSQL session in a transaction) and must return the same,
    storage-neutral type. Raises `StorageUnavailable` when both stores are.
    """
    return await _with_fallback(
        (mongo, mongo_operation), (postgres, postgres_operation), operation_name, hedge_after
    )


async def with_postgres_fallback(
    postgres_operation: PostgresOperation[T],
    mongo_operation: MongoOperation[T],
    operation_name: str,
    *,
    mongo: StoreGuard[Any],
    postgres: StoreGuard[Any],
    hedge_after: float | None = None,
    complete: Callable[[T], bool] | None = None,
) -> Sourced[T]:
    """The mirror image, for PostgreSQL-owned data MongoDB mirrors for DMs
    (conversation participants, author names): PostgreSQL first; a hedge to the
    mirror wins only with an answer that is `complete`."""
    return await _with_fallback(
        (postgres, postgres_operation),
        (mongo, mongo_operation),
        operation_name,
        hedge_after,
        complete,
    )


async def _with_fallback(
    primary: tuple[StoreGuard[Any], Operation[T]],
    secondary: tuple[StoreGuard[Any], Operation[T]],
    name: str,
    hedge_after: float | None,
    complete: Callable[[T], bool] | None = None,
) -> Sourced[T]:
    (first, first_op), (second, second_op) = primary, secondary
    if not first.available:
        first.metrics.count("fallback", second.store, name)
        return Sourced(await second.run(name, second_op), second.store)
    attempt = asyncio.ensure_future(first.run(name, first_op))
    try:
        done, _ = await asyncio.wait({attempt}, timeout=hedge_after)
    except asyncio.CancelledError:
        attempt.cancel()
        raise
    if not done:
        return await _race(attempt, second, second_op, name, first.store, complete)
    try:
        return Sourced(attempt.result(), first.store)
    except BreakerOpen:
        return Sourced(await second.run(name, second_op), second.store)
    except StorageUnavailable as exc:
        label, other = LABELS[first.store], LABELS[second.store]
        log.warning(f"[{name}] {label} failed, falling back to {other}: {exc}")
        value: T = await second.run(name, second_op)
        log.info(f"[{name}] Successfully used {other} fallback")
        return Sourced(value, second.store)


async def _race(
    slow: asyncio.Future[T],
    second: StoreGuard[Any],
    second_op: Operation[T],
    name: str,
    slow_store: str,
    complete: Callable[[T], bool] | None,
) -> Sourced[T]:
    """The primary is slow: ask the secondary too; the first answer wins (the
    secondary's only if `complete`, or once the primary has failed)."""
    second.metrics.count("hedged", second.store, name)
    hedge = asyncio.ensure_future(second.run(name, second_op))
    pending: set[asyncio.Future[T]] = {slow, hedge}
    error: BaseException | None = None
    held: Sourced[T] | None = None  # an incomplete answer of the secondary
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                failure = task.exception()
                if failure is None:
                    store = slow_store if task is slow else second.store
                    answer = Sourced(task.result(), store)
                    if task is hedge and complete is not None and not complete(answer.value):
                        held = answer
                        continue
                    for other in pending | (done - {task}):
                        detach(other)  # type: ignore[arg-type]
                    return answer
                if not isinstance(failure, StorageUnavailable):
                    raise failure
                error = failure
    except asyncio.CancelledError:
        for task in pending:
            task.cancel()
        raise
    if held is not None:
        return held
    assert error is not None
    raise error
