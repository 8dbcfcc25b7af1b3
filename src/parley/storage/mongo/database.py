"""Parley's MongoDB handle: one `AsyncMongoClient` per process, built in the
app's lifespan, with short driver timeouts and a deadline on every named
operation.

Driver timeouts are short (never the 30-second defaults), and each operation
runs under `within_deadline`, so a frozen server costs a caller
its deadline and no more. The same deadline goes to the server: the operation
runs inside `pymongo.timeout()`, so every command it sends carries `maxTimeMS`
(the time left, less the round trip) and a server that honours it stops the work
the app gave up on (FerretDB v1 does for find, aggregate and findAndModify; see
docs/OPERATIONS.md). PyMongo ends the operation itself at that deadline, so the
app stops waiting but never cancels it (`storage.deadline`).

Durability is explicit, not the driver's default: every write carries the
configured write concern (`majority`, journaled, by default), reads go to the
primary, and the reads replay copies to PostgreSQL use read concern `majority`
(`durable` below), so replay never spreads a write a failover may roll back.
A write MongoDB could not acknowledge that way is a failure of MongoDB
(`errors.py`), queued for replay like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pymongo
import structlog
from pymongo import AsyncMongoClient, ReadPreference
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from parley.settings import Settings
from parley.storage.deadline import NEVER, within_deadline
from parley.storage.mongo.errors import translate_errors
from parley.storage.operations import OperationObserver, Operations

T = TypeVar("T")
log = structlog.get_logger("parley.mongo")

MongoDocument = dict[str, Any]
# Reads that feed another store: never data a failover could roll back.
MAJORITY = ReadConcern("majority")


def durable(collection: AsyncCollection[MongoDocument]) -> AsyncCollection[MongoDocument]:
    """`collection` read with read concern `majority` (replay and anti-entropy
    sources: what they copy to PostgreSQL must survive a MongoDB failover)."""
    return collection.with_options(read_concern=MAJORITY)


class MongoDatabase:
    def __init__(
        self,
        client: AsyncMongoClient[MongoDocument],
        name: str,
        deadline: float,
        observer: OperationObserver | None = None,
    ) -> None:
        self.client = client
        self.db: AsyncDatabase[MongoDocument] = client[name]
        self.deadline = deadline
        self.operations = Operations("mongodb", observer)

    @classmethod
    def from_settings(
        cls, settings: Settings, observer: OperationObserver | None = None
    ) -> MongoDatabase:
        ms = int(settings.connect_timeout * 1000)
        backstop_ms = int(settings.driver_backstop * 1000)
        client: AsyncMongoClient[MongoDocument] = AsyncMongoClient(
            settings.mongo_url.get_secret_value(),
            # Keyword options win over the same options in MONGO_URL.
            w=settings.mongo_w,
            journal=settings.mongo_journal,
            readPreference=ReadPreference.PRIMARY.mongos_mode,
            uuidRepresentation="standard",
            tz_aware=True,
            connect=False,
            serverSelectionTimeoutMS=ms,
            # Also the timeout of the monitor's `hello` checks, and a check that
            # times out clears the pool and interrupts every operation in
            # flight: at PARLEY_CONNECT_TIMEOUT, any stall over half a second
            # did. Operations bound their own connects by their deadlines.
            connectTimeoutMS=backstop_ms,
            socketTimeoutMS=backstop_ms,
            waitQueueTimeoutMS=ms,
            maxPoolSize=settings.mongo_pool_size,
            # PyMongo keeps the pool this full itself, in the background (at
            # most two connections opening at a time): a pool that grows under
            # load opens connections in the middle of it.
            minPoolSize=settings.mongo_pool_size,
            heartbeatFrequencyMS=500,
            appname="parley",
        )
        return cls(client, settings.mongo_database, settings.db_deadline, observer)

    async def run(
        self,
        name: str,
        fn: Callable[[AsyncDatabase[MongoDocument]], Coroutine[Any, Any, T]],
        *,
        deadline: float | None = None,
    ) -> T:
        """Run `fn` against the database as operation `name`, within the deadline."""
        seconds = deadline or self.deadline
        with self.operations.timed(name), translate_errors(name):
            # PyMongo ends the operation itself: never cancelled, because a
            # cancellation in its pool's bookkeeping leaks checkouts (see
            # `storage.deadline`).
            return await within_deadline(
                _server_bounded(fn(self.db), seconds), seconds, backstop=NEVER
            )

    async def ping(self, deadline: float) -> float:
        """Round-trip `ping`; returns milliseconds or raises a storage error."""
        started = time.perf_counter()
        await self.run("HEALTH_PING_MONGO", _ping, deadline=deadline)
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        await self.client.close()


async def _server_bounded(operation: Coroutine[Any, Any, T], seconds: float) -> T:
    """Run `operation` under PyMongo's client-side operation timeout: each
    command carries `maxTimeMS`, and server selection, pool checkout and socket
    reads are bounded by the same time."""
    with pymongo.timeout(seconds):
        return await operation


async def _ping(db: AsyncDatabase[MongoDocument]) -> None:
    await db.command("ping")
