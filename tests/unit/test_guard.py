from __future__ import annotations

from typing import Any

import pytest

from parley.resilience import Metrics, StoreGuard
from parley.storage.errors import (
    BreakerOpen,
    StorageConflict,
    StorageTimeout,
    StorageUnavailable,
)
from tests.unit.resilience_fakes import (
    DeadlineRunner,
    FakeRunner,
    breaker,
    guard,
    raises,
    returns,
)


async def test_user_traffic_timeouts_open_the_breaker() -> None:
    store, _ = guard("mongodb", threshold=2)
    for _ in range(2):
        with pytest.raises(StorageTimeout):
            await store.run("OP", raises(StorageTimeout("slow", store="mongodb")))
    assert store.breaker.is_open


async def test_background_timeouts_do_not_but_background_outages_do() -> None:
    store, _ = guard("mongodb", threshold=2)
    background = store.for_background()
    for _ in range(3):
        with pytest.raises(StorageTimeout):
            await background.run("REPLAY", raises(StorageTimeout("slow", store="mongodb")))
    assert not store.breaker.is_open
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            await background.run("REPLAY", raises(StorageUnavailable("refused", store="mongodb")))
    assert store.breaker.is_open


async def test_a_timeout_stalls_the_store_and_any_answer_ends_it() -> None:
    store, _ = guard("postgresql", threshold=10)
    with pytest.raises(StorageTimeout):
        await store.run("OP", raises(StorageTimeout("frozen", store="postgresql")))
    assert store.stalled
    assert not store.breaker.is_open  # a stall is not a verdict on the store
    with pytest.raises(StorageConflict):
        await store.run("OP", raises(StorageConflict("taken", store="postgresql")))
    assert not store.stalled  # a refusal is an answer too


async def test_background_timeouts_stall_the_store_for_user_traffic_too() -> None:
    store, _ = guard("postgresql", threshold=10)
    with pytest.raises(StorageTimeout):
        await store.for_background().run("REPLAY", raises(StorageTimeout("x", store="postgresql")))
    assert store.stalled
    await store.run("OP", returns(1))
    assert not store.stalled


async def test_catching_up_runs_against_a_store_open_only_for_slowness() -> None:
    store, runner = guard("mongodb", threshold=2)
    for _ in range(2):
        with pytest.raises(StorageTimeout):
            await store.run("OP", raises(StorageTimeout("slow", store="mongodb")))
    store.breaker.stall.answered()  # a late answer: busy, not frozen
    assert store.breaker.is_open and not store.available
    scan = store.for_background()  # anti-entropy: not catching up, waits
    assert not scan.available
    with pytest.raises(BreakerOpen):
        await scan.run("ANTIENTROPY", returns(1))
    replay = store.for_background(catch_up=True)
    assert replay.available
    assert await replay.run("REPLAY", returns(7)) == 7
    assert runner.calls[-1] == "REPLAY"
    with pytest.raises(StorageUnavailable):
        await replay.run("REPLAY", raises(StorageUnavailable("refused", store="mongodb")))
    assert not replay.available  # down now, not just slow


async def _paired_and_open_for_slowness() -> tuple[StoreGuard[Any], FakeRunner, StoreGuard[Any]]:
    """MongoDB's guard (and its runner) paired with PostgreSQL's, open for
    slowness alone: busy, not frozen."""
    store, runner = guard("mongodb", threshold=2)
    other, _ = guard("postgresql", threshold=2)
    store.breaker.pair(other.breaker)
    for _ in range(2):
        with pytest.raises(StorageTimeout):
            await store.run("OP", raises(StorageTimeout("slow", store="mongodb")))
    store.breaker.stall.answered()
    return store, runner, other


async def test_user_calls_reach_the_last_store_standing_but_scans_do_not() -> None:
    store, runner, other = await _paired_and_open_for_slowness()
    assert not store.available  # PostgreSQL takes its traffic
    other.breaker.trip("PostgreSQL went down")
    assert store.available
    assert await store.run("ROOM_MESSAGES_GET_DM", returns(3)) == 3
    scan = store.for_background()  # anti-entropy still waits for a closed breaker
    assert not scan.available
    with pytest.raises(BreakerOpen):
        await scan.run("ANTIENTROPY", returns(1))
    assert runner.calls[-1] == "ROOM_MESSAGES_GET_DM"


async def test_a_call_no_other_store_can_answer_reaches_a_store_open_for_slowness() -> None:
    store, runner, _ = await _paired_and_open_for_slowness()
    with pytest.raises(BreakerOpen):  # PostgreSQL can answer this one
        await store.run("ROOM_MESSAGES_GET_DM", returns(1))
    assert await store.run("ROOM_MESSAGES_GET_DM", returns(2), sole=True) == 2
    assert runner.calls[-1] == "ROOM_MESSAGES_GET_DM"
    with pytest.raises(BreakerOpen):  # a background scan is never a sole call
        await store.for_background().run("ANTIENTROPY", returns(3), sole=True)


async def test_the_last_store_standing_gets_the_longer_deadline_for_user_calls() -> None:
    """Missing a deadline there is a 503, not a fallback: user calls no other
    store can answer (the other's breaker is not closed, or `sole`) wait
    `last_store_deadline`, on guards built for calls another store stands in
    for; background work, explicit deadlines and the plain guard keep theirs."""
    runner = DeadlineRunner()
    plain = StoreGuard[Any]("mongodb", runner, breaker("mongodb"), Metrics())
    store = plain.with_last_store_deadline(2.0)
    other, _ = guard("postgresql", threshold=2)
    store.breaker.pair(other.breaker)

    await store.run("ROOM_MESSAGES_GET_DM", returns(1))
    await store.run("ROOM_MESSAGES_GET_DM", returns(1), sole=True)
    other.breaker.trip("PostgreSQL went down")
    await store.run("ROOM_MESSAGES_GET_DM", returns(1))
    await store.run("REPLAY_WRITE_MONGO", returns(1), deadline=10.0)
    await store.for_background().run("ANTIENTROPY_CHUNK", returns(1))
    await plain.run("ROOM_KIND", returns(1))

    assert runner.deadlines == [None, 2.0, 2.0, 10.0, None, None]
    assert store.call_deadline() == 2.0
    assert store.for_background().call_deadline() is None
