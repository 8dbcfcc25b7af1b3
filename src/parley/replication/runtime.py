"""`Replication`: one process's DM replication objects, built in the app's
lifespan and handed to services as a typed field of `AppState`.

It owns one breaker and guard per store (from the resilience toolkit), the
replay worker, the confirmer, the backlog and the directory, and starts and
stops their background loops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from parley.replication import verify
from parley.replication.antientropy import WALK_BATCH, WALK_CONCURRENCY, AntiEntropy
from parley.replication.backlog import Backlog
from parley.replication.confirmer import Confirmer
from parley.replication.direct_messages import DirectMessages
from parley.replication.directory import Directory
from parley.replication.repair import Repairer
from parley.replication.replay import ReplayWorker
from parley.replication.verify import Verifier
from parley.resilience import (
    BreakerPolicy,
    CircuitBreaker,
    Metrics,
    StoreGuard,
    Supervisor,
)
from parley.settings import Settings
from parley.storage.errors import StorageError
from parley.storage.mongo.clock import ServerClock
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase


class Replication:
    def __init__(
        self,
        settings: Settings,
        mongo: MongoDatabase,
        postgres: PostgresDatabase,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        probe_deadline = settings.health_deadline
        policy = breaker_policy(settings)
        self.mongo_breaker = CircuitBreaker("mongodb", lambda: mongo.ping(probe_deadline), policy)
        self.postgres_breaker = CircuitBreaker(
            "postgresql", lambda: postgres.ping(probe_deadline), policy
        )
        self.mongo_breaker.pair(self.postgres_breaker)
        self.mongo = StoreGuard[Any]("mongodb", mongo, self.mongo_breaker, self.metrics)
        self.postgres = StoreGuard[Any]("postgresql", postgres, self.postgres_breaker, self.metrics)
        # DM calls, which the other store can stand in for: while it cannot,
        # they get the last store's deadline. PostgreSQL-only work (rooms,
        # channels) keeps the ordinary one: MongoDB was never its fallback.
        self.dm_mongo = self.mongo.with_last_store_deadline(settings.last_store_seconds)
        self.dm_postgres = self.postgres.with_last_store_deadline(settings.last_store_seconds)
        # A view of the backlogs older than a few refresh intervals means this
        # process was paused: trust it no longer (see `Backlog`).
        self.backlog = Backlog(max_age=backlog_max_age(settings))
        self.confirmer = Confirmer(
            self.mongo.for_background(catch_up=True), self.postgres.for_background(catch_up=True)
        )
        self.replay = ReplayWorker(
            self.mongo.for_background(catch_up=True),
            self.postgres.for_background(catch_up=True),
            self.backlog,
            self.metrics,
            interval=settings.replay_interval,
            batch_size=settings.replay_batch_size,
            confirmer=self.confirmer,
        )
        self.direct_messages = DirectMessages(
            self.dm_mongo,
            self.dm_postgres,
            self.backlog,
            self.confirmer,
            ServerClock(),
            hedge_after=settings.hedge_delay,
            write_grace=settings.write_grace,
        )
        self.directory = Directory(
            self.dm_mongo, self.dm_postgres, hedge_after=settings.hedge_delay
        )
        self._postgres_db = postgres
        self.mongo_breaker.on_recovery(self._before_mongo_serves_again)
        self.postgres_breaker.on_recovery(self._before_postgres_serves_again)
        self.supervisor = Supervisor(self.metrics)

    def verifier(
        self, *, batch: int = verify.BATCH, concurrency: int = verify.CONCURRENCY
    ) -> Verifier:
        """Anti-entropy's comparison, on this process's breakers (background work)."""
        return Verifier(
            self.mongo.for_background(),
            self.postgres.for_background(),
            settle=self.settings.antientropy_settle,
            batch=batch,
            concurrency=concurrency,
        )

    def repairer(self) -> Repairer:
        return Repairer(self.mongo.for_background(), self.postgres.for_background())

    def antientropy(self, holder: str) -> AntiEntropy:
        """The background verifier of this process (it runs only while it holds
        the deployment's lease)."""
        settings = self.settings
        return AntiEntropy(
            self.verifier(batch=WALK_BATCH, concurrency=WALK_CONCURRENCY),
            self.repairer() if settings.antientropy_repair else None,
            self.postgres.for_background(),
            self.metrics,
            holder=holder,
            rate=settings.antientropy_rate,
            duty=settings.antientropy_duty,
            pause=settings.antientropy_pause,
            lease=settings.antientropy_lease,
            after_repair=self.replay.kick,
        )

    async def _before_mongo_serves_again(self) -> None:
        # Learn which conversations MongoDB still lacks before reads return to it.
        with contextlib.suppress(StorageError):
            await self.replay.refresh_mongo_backlog()
        self.replay.kick()

    async def _before_postgres_serves_again(self) -> None:
        # Learn which conversations PostgreSQL still lacks before reads return
        # to it, and reopen the pool's dead connections meanwhile (all of them
        # after a restart, those cancelled mid-call after a freeze): the first
        # requests back each opened one, answering in 0.3-0.7 s all at once
        # (`fill_pool` opens a few at a time). At the ordinary deadline, so
        # each ping's connection is left with the statement timeout requests use.
        async with asyncio.TaskGroup() as both:
            both.create_task(self._refresh_postgres_backlog())
            both.create_task(self._postgres_db.fill_pool(self.settings.db_deadline))
        self.replay.kick()

    async def _refresh_postgres_backlog(self) -> None:
        with contextlib.suppress(StorageError):
            await self.replay.refresh_postgres_backlog()

    async def start(self) -> None:
        with contextlib.suppress(StorageError):
            await self.replay.refresh_mongo_backlog()
        with contextlib.suppress(StorageError):
            await self.replay.refresh_postgres_backlog()
        self.supervisor.spawn("mongo-breaker-probe", self.mongo_breaker.run_probe_loop)
        self.supervisor.spawn("postgres-breaker-probe", self.postgres_breaker.run_probe_loop)
        self.supervisor.spawn("dm-confirmer", self.confirmer.run)
        self.supervisor.spawn("replay-worker", self.replay.run)
        self.supervisor.spawn("backlog-refresher", self.replay.keep_backlog_fresh)

    async def stop(self) -> None:
        await self.supervisor.stop()
        with contextlib.suppress(StorageError):
            await self.confirmer.flush()


def backlog_max_age(settings: Settings) -> float:
    """How old a backlog view may be: two refreshes, each of which may run
    for a whole deadline before it fails."""
    return 2 * (settings.replay_interval + settings.db_deadline)


def breaker_policy(settings: Settings) -> BreakerPolicy:
    """The `PARLEY_BREAKER_*` settings as the toolkit's policy."""
    return BreakerPolicy(
        window=settings.breaker_window,
        minimum_calls=settings.breaker_minimum_calls,
        failure_rate=settings.breaker_failure_rate / 100,
        slow_call_rate=settings.breaker_slow_call_rate / 100,
        slow_call_duration=settings.breaker_slow_call_duration,
        open_wait=settings.breaker_open_wait,
        half_open_calls=settings.breaker_half_open_calls,
        probe_interval=settings.breaker_probe_interval,
    )
