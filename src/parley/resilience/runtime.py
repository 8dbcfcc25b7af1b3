"""`Resilience`: the per-process resilience objects, built in the app's lifespan
and handed to services explicitly.

It owns one breaker and guard per store, the replay worker, the confirmer, the
backlog and the directory, and exposes the original design's API as methods:
`with_mongo_fallback`, `sync_to_both_databases`, `check_database_health`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypeVar

from parley.resilience.backlog import Backlog
from parley.resilience.breaker import BreakerPolicy, CircuitBreaker
from parley.resilience.confirmer import Confirmer
from parley.resilience.direct_messages import DirectMessages
from parley.resilience.directory import Directory
from parley.resilience.dualwrite import DualWrite, Hook, sync_to_both_databases
from parley.resilience.fallback import (
    MongoOperation,
    PostgresOperation,
    Sourced,
    with_mongo_fallback,
)
from parley.resilience.guard import StoreGuard
from parley.resilience.health import check_database_health
from parley.resilience.metrics import Metrics
from parley.resilience.replay import ReplayWorker
from parley.settings import Settings
from parley.storage.errors import StorageError
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase

T = TypeVar("T")
M = TypeVar("M")
P = TypeVar("P")


class Resilience:
    def __init__(self, settings: Settings, mongo: MongoDatabase, postgres: PostgresDatabase):
        self.settings = settings
        self.metrics = Metrics()
        self._mongo_db = mongo
        self._postgres_db = postgres
        probe_deadline = settings.health_deadline
        policy = BreakerPolicy.from_settings(settings)
        self.mongo_breaker = CircuitBreaker("mongodb", lambda: mongo.ping(probe_deadline), policy)
        self.postgres_breaker = CircuitBreaker(
            "postgresql", lambda: postgres.ping(probe_deadline), policy
        )
        self.mongo = StoreGuard[Any]("mongodb", mongo, self.mongo_breaker, self.metrics)
        self.postgres = StoreGuard[Any]("postgresql", postgres, self.postgres_breaker, self.metrics)
        self.backlog = Backlog()
        self.confirmer = Confirmer(self.mongo.for_background(), self.postgres.for_background())
        self.replay = ReplayWorker(
            self.mongo.for_background(),
            self.postgres.for_background(),
            self.backlog,
            self.metrics,
            interval=settings.replay_interval,
            batch_size=settings.replay_batch_size,
        )
        self.direct_messages = DirectMessages(
            self.mongo,
            self.postgres,
            self.backlog,
            self.confirmer,
            hedge_after=settings.hedge_delay,
            write_grace=settings.write_grace,
        )
        self.directory = Directory(self.mongo, self.postgres, hedge_after=settings.hedge_delay)
        self.mongo_breaker.on_recovery(self._before_mongo_serves_again)
        self.postgres_breaker.on_recovery(self._kick_replay)
        self._tasks: list[asyncio.Task[None]] = []

    async def _before_mongo_serves_again(self) -> None:
        # Learn which conversations MongoDB still lacks before reads return to it.
        with contextlib.suppress(StorageError):
            await self.replay.refresh_backlog()
        self.replay.kick()

    async def _kick_replay(self) -> None:
        self.replay.kick()

    async def start(self) -> None:
        with contextlib.suppress(StorageError):
            await self.replay.refresh_backlog()
        for name, job in (
            ("mongo-breaker-probe", self.mongo_breaker.run_probe_loop()),
            ("postgres-breaker-probe", self.postgres_breaker.run_probe_loop()),
            ("dm-confirmer", self.confirmer.run()),
            ("replay-worker", self.replay.run()),
        ):
            self._tasks.append(asyncio.create_task(job, name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(StorageError):
            await self.confirmer.flush()

    # -- the original design's API ------------------------------------------------

    async def with_mongo_fallback(
        self,
        mongo_operation: MongoOperation[T],
        postgres_operation: PostgresOperation[T],
        operation_name: str,
    ) -> Sourced[T]:
        return await with_mongo_fallback(
            mongo_operation,
            postgres_operation,
            operation_name,
            mongo=self.mongo,
            postgres=self.postgres,
        )

    async def sync_to_both_databases(
        self,
        mongo_operation: MongoOperation[M],
        postgres_operation: PostgresOperation[P],
        operation_name: str,
        *,
        queue_for_mongo: Hook[M, P] | None = None,
        queue_for_postgres: Hook[M, P] | None = None,
    ) -> DualWrite[M, P]:
        return await sync_to_both_databases(
            mongo_operation,
            postgres_operation,
            operation_name,
            mongo=self.mongo,
            postgres=self.postgres,
            queue_for_mongo=queue_for_mongo,
            queue_for_postgres=queue_for_postgres,
        )

    async def check_database_health(self) -> dict[str, Any]:
        return await check_database_health(
            self._mongo_db, self._postgres_db, deadline=self.settings.health_deadline
        )
