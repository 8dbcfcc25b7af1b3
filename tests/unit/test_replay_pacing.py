"""Replay making way for users (`ReplayWorker.rest_after`, the batch size): the
decisions alone, on guards whose store is a stand-in; the worker against real
stores is in tests/integration/test_replay_pacing.py."""

from __future__ import annotations

import pytest

from parley.replication.backlog import Backlog
from parley.replication.replay import LONGEST_REST, YIELD_LATENCY, ReplayWorker
from parley.resilience import Metrics
from tests.unit.resilience_fakes import guard


def worker(duty: float = 0.25) -> ReplayWorker:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    return ReplayWorker(
        mongo.for_background(catch_up=True),
        postgres.for_background(catch_up=True),
        Backlog(),
        Metrics(),
        batch_size=400,
        duty=duty,
    )


async def deliver(taken: int) -> int:
    return taken


def test_with_quick_user_calls_replay_never_rests() -> None:
    replay = worker()
    replay.mongo.latency.record(0.01)
    replay.postgres.latency.record(YIELD_LATENCY / 2)
    assert not replay.making_way()
    assert replay.rest_after(3.0) == 0.0


@pytest.mark.parametrize("slow_store", ["mongo", "postgres"])
def test_slow_user_calls_to_either_store_keep_replay_to_its_duty(slow_store: str) -> None:
    replay = worker(duty=0.25)
    getattr(replay, slow_store).latency.record(YIELD_LATENCY * 2)
    assert replay.making_way()
    assert replay.rest_after(0.4) == pytest.approx(1.2)
    assert replay.rest_after(30.0) == LONGEST_REST


async def test_making_way_rests_but_keeps_the_batches_as_big_as_the_stores_take() -> None:
    """Smaller batches while making way starved replay on an overloaded store."""
    replay = worker()
    size = replay.to_postgres_batch
    size.ran_past_deadline()
    replay.mongo.latency.record(YIELD_LATENCY * 2)
    await replay._one_pass("mongodb", size, lambda token, limit: deliver(limit))
    assert size.current == 400
