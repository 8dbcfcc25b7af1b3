"""The backlog refresher reads a store's backlog only when no replay pass has
within the interval: reading it scans the queue, and while replay drains a
backlog every pass reads both views already."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from parley.replication.backlog import Backlog
from parley.replication.replay import ReplayWorker
from parley.resilience import MONGODB, POSTGRESQL, Metrics, StoreGuard
from tests.unit.resilience_fakes import Clock, FakeRunner, breaker

INTERVAL = 0.01


class NoBacklog(FakeRunner):
    """A store whose queue names no conversation."""

    async def run(
        self, name: str, fn: Callable[[Any], Awaitable[Any]], *, deadline: float | None = None
    ) -> Any:
        self.calls.append(name)
        return set()


def store(name: str) -> tuple[StoreGuard[Any], NoBacklog]:
    runner = NoBacklog()
    return StoreGuard(name, runner, breaker(name), Metrics()), runner


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(INTERVAL / 2)


async def test_only_views_no_pass_read_within_the_interval_are_read_again() -> None:
    (mongo, mongo_runner), (postgres, postgres_runner) = store(MONGODB), store(POSTGRESQL)
    clock = Clock()
    backlog = Backlog(max_age=1.0, clock=clock)
    worker = ReplayWorker(mongo, postgres, backlog, Metrics(), interval=INTERVAL)
    backlog.checked(MONGODB)  # a pass just read MongoDB's backlog, from PostgreSQL's queue

    refresher = asyncio.create_task(worker.keep_backlog_fresh())
    try:
        # PostgreSQL's backlog, in MongoDB's queue, was never read: it is.
        await asyncio.wait_for(until(lambda: bool(mongo_runner.calls)), 5)
        await asyncio.sleep(10 * INTERVAL)  # ten rounds: both views are fresh
        assert mongo_runner.calls == ["REPLAY_BACKLOG_CONVERSATIONS_PG"]
        assert postgres_runner.calls == []

        clock.now += 2 * INTERVAL  # no pass read either view since
        await asyncio.wait_for(until(lambda: len(mongo_runner.calls) == 2), 5)
        await asyncio.wait_for(until(lambda: len(postgres_runner.calls) == 1), 5)
        assert postgres_runner.calls == ["REPLAY_BACKLOG_CONVERSATIONS"]
    finally:
        refresher.cancel()
