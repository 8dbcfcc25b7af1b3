"""`with_mongo_fallback`: run an operation on MongoDB, on PostgreSQL when MongoDB
is unavailable (down, frozen past the deadline, or its breaker open).

Only unavailability falls back. A conflict or a bug (anything that is not
`StorageUnavailable`) surfaces unchanged, so fallback never hides an error.
The original design's log lines are kept, once per attempt that actually failed;
while a breaker is open the breaker logs a periodic count instead.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from sqlalchemy.ext.asyncio import AsyncSession

from parley.resilience.guard import StoreGuard
from parley.storage.errors import BreakerOpen, StorageUnavailable

T = TypeVar("T")
log = structlog.get_logger("parley.fallback")

MongoOperation = Callable[[AsyncDatabase[dict[str, Any]]], Coroutine[Any, Any, T]]
PostgresOperation = Callable[[AsyncSession], Coroutine[Any, Any, T]]

MONGODB = "mongodb"
POSTGRESQL = "postgresql"


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
) -> Sourced[T]:
    """Run `mongo_operation`; if MongoDB is unavailable, `postgres_operation`.

    Both operations receive their store's handle (a MongoDB database, a
    PostgreSQL session in a transaction) and must return the same,
    storage-neutral type. Raises `StorageUnavailable` when both stores are.
    """
    try:
        return Sourced(await mongo.run(operation_name, mongo_operation), MONGODB)
    except BreakerOpen:
        pass
    except StorageUnavailable as exc:
        log.warning(f"[{operation_name}] MongoDB failed, falling back to PostgreSQL: {exc}")
        value: T = await postgres.run(operation_name, postgres_operation)
        log.info(f"[{operation_name}] Successfully used PostgreSQL fallback")
        return Sourced(value, POSTGRESQL)
    mongo.metrics.count("fallback", POSTGRESQL, operation_name)
    return Sourced(await postgres.run(operation_name, postgres_operation), POSTGRESQL)


async def with_postgres_fallback(
    postgres_operation: PostgresOperation[T],
    mongo_operation: MongoOperation[T],
    operation_name: str,
    *,
    mongo: StoreGuard[Any],
    postgres: StoreGuard[Any],
) -> Sourced[T]:
    """The mirror image, for PostgreSQL-owned data MongoDB mirrors for DMs
    (conversation participants, author names): PostgreSQL first."""
    try:
        return Sourced(await postgres.run(operation_name, postgres_operation), POSTGRESQL)
    except BreakerOpen:
        pass
    except StorageUnavailable as exc:
        log.warning(f"[{operation_name}] PostgreSQL failed, falling back to MongoDB: {exc}")
        value: T = await mongo.run(operation_name, mongo_operation)
        log.info(f"[{operation_name}] Successfully used MongoDB fallback")
        return Sourced(value, MONGODB)
    postgres.metrics.count("fallback", MONGODB, operation_name)
    return Sourced(await mongo.run(operation_name, mongo_operation), MONGODB)
