"""The rate limiter's counting and its fallback, with a fake shared store and a
fake clock: the window and its wait, all-or-nothing counting, the local
pre-check, and local decisions while the shared store is unavailable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from parley.resilience import Metrics, Stall
from parley.security.ratelimit import (
    LOCAL_GAUGE,
    Limit,
    LocalWindows,
    RateLimiter,
    Rule,
    retry_after,
)
from parley.storage.errors import StorageConflict, StorageTimeout
from parley.storage.rate_windows import Hit, WindowCheck, WindowCounts
from tests.unit.resilience_fakes import Clock

PER_MINUTE = Rule("send", 3, 60)
T0 = 6_000_000.0  # the start of a bucket (and of a minute)


class FakeShared:
    """Another instance's view of the shared store: LocalWindows behind the
    shared interface, which can be made unavailable, buggy or frozen."""

    deadline = 30.0  # no test here waits for it but the one that sets its own

    def __init__(self) -> None:
        self.windows = LocalWindows()
        self.down = False
        self.broken = False
        self.frozen: asyncio.Event | None = None  # set: calls wait for it
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.broken:
            raise StorageConflict("a bug", store="postgresql")
        if self.down:
            raise StorageTimeout("frozen", store="postgresql", operation="RATE_LIMIT_HIT")

    async def hit_many(self, hits: Sequence[Hit]) -> list[list[WindowCounts]]:
        self._call()
        if self.frozen is not None:
            await self.frozen.wait()
        return [self.windows.hit(checks, cost) for checks, cost in hits]

    async def peek(self, checks: Sequence[WindowCheck]) -> list[WindowCounts]:
        self._call()
        return self.windows.peek(checks)

    async def clear(self, keys: Sequence[str]) -> None:
        self._call()
        self.windows.clear(keys)

    async def prune(self) -> int:
        return 0


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def shared() -> FakeShared:
    return FakeShared()


async def let_the_retry_run() -> None:
    """A few turns of the loop: the store's retry runs detached, through the
    limiter's group commit (its own task)."""
    for _ in range(10):
        await asyncio.sleep(0)


def limiter(shared: FakeShared, clock: Clock, metrics: Metrics | None = None) -> RateLimiter:
    return RateLimiter(shared, metrics or Metrics(), clock=clock, retry_shared=3600)


def test_rule_parses_the_limits_notation() -> None:
    assert Rule.parse("login", "5/minute") == Rule("login", 5, 60)
    assert Rule.parse("slow", "10 per 15 minutes") == Rule("slow", 10, 900)


async def test_the_window_moves_bucket_by_bucket(shared: FakeShared, clock: Clock) -> None:
    rl = limiter(shared, clock)
    alice = [Limit(PER_MINUTE, "alice")]
    assert await rl.hit(alice) is None  # at 0 s
    clock.now += 30
    assert await rl.hit(alice) is None  # at 30 s
    assert await rl.hit(alice) is None
    clock.now += 1
    wait = await rl.hit(alice)
    # The first hit's bucket (0-6 s) leaves the window at 60 s: 29 s from now.
    assert wait == pytest.approx(29)
    assert retry_after(wait or 0) == 29
    clock.now = T0 + 60
    assert await rl.hit(alice) is None
    assert await rl.hit(alice) is not None  # the two at 30 s still count


async def test_concurrent_hits_share_a_call_and_are_decided_one_by_one(
    shared: FakeShared, clock: Clock
) -> None:
    """Hits arriving while a call to the shared store is out go together in
    the next (group commit); each is still decided as if it came alone."""
    rl = limiter(shared, clock)
    alice = [Limit(PER_MINUTE, "alice")]

    answers = await asyncio.gather(*(rl.hit(alice) for _ in range(5)))

    assert [answer is None for answer in answers] == [True, True, True, False, False]
    assert shared.calls < 5


async def test_refused_hits_count_against_nothing(shared: FakeShared, clock: Clock) -> None:
    rl = limiter(shared, clock)
    account, address = Limit(PER_MINUTE, "alice"), Limit(Rule("send-ip", 5, 60), "10.0.0.1")
    for _ in range(3):
        assert await rl.hit([account, address]) is None
    for _ in range(10):  # a client hammering while refused
        assert await rl.hit([account, address]) is not None
    # The address was not charged for the refused sends: another account
    # from it still has its two.
    other = Limit(PER_MINUTE, "bob")
    assert await rl.hit([other, address]) is None
    assert await rl.hit([other, address]) is None
    assert await rl.hit([other, address]) is not None
    clock.now += 60
    assert await rl.hit([account, address]) is None  # hammering did not extend the wait


async def test_a_limit_spent_elsewhere_is_refused_here(shared: FakeShared, clock: Clock) -> None:
    elsewhere, here = limiter(shared, clock), limiter(shared, clock)
    alice = [Limit(PER_MINUTE, "alice")]
    for _ in range(3):
        assert await elsewhere.hit(alice) is None
    assert await here.hit(alice) is not None
    assert await here.peek(alice) is not None


async def test_the_local_precheck_refuses_without_asking(shared: FakeShared, clock: Clock) -> None:
    rl = limiter(shared, clock)
    alice = [Limit(PER_MINUTE, "alice")]
    for _ in range(3):
        assert await rl.hit(alice) is None
    calls = shared.calls
    assert await rl.hit(alice) is not None
    assert await rl.hit(alice) is not None
    assert shared.calls == calls


async def test_hits_the_shared_store_missed_still_count_here(
    shared: FakeShared, clock: Clock
) -> None:
    """A hit decided locally (the store down, or its statement cancelled at the
    deadline) is not in the shared counts; this instance still counts it."""
    rl = RateLimiter(shared, Metrics(), clock=clock, retry_shared=0)
    alice = [Limit(PER_MINUTE, "alice")]
    assert await rl.hit(alice) is None
    shared.down = True
    assert await rl.hit(alice) is None  # counted here only
    shared.down = False
    assert await rl.hit(alice) is None  # the shared store has two, this instance three
    assert await rl.peek(alice) is not None
    assert await rl.hit(alice) is not None


async def test_while_the_store_is_down_each_instance_decides_alone(
    shared: FakeShared, clock: Clock
) -> None:
    metrics = Metrics()
    rl = limiter(shared, clock, metrics)
    alice = [Limit(PER_MINUTE, "alice")]
    assert await rl.hit(alice) is None  # counted in both
    shared.down = True
    assert await rl.hit(alice) is None
    assert not rl.shared_available
    assert metrics.gauges[LOCAL_GAUGE] == 1
    calls = shared.calls
    assert await rl.hit(alice) is None  # the third, from local counts only
    assert await rl.hit(alice) is not None  # still enforced
    assert shared.calls == calls  # not asked again until retry_shared has passed
    # Two decided locally; the fourth was refused by the local counts first.
    assert metrics.operations[("local", "postgresql", "RATE_LIMIT_HIT")] == 2
    assert metrics.operations[("unavailable", "postgresql", "RATE_LIMIT_HIT")] == 1


async def test_the_store_is_tried_again_and_used_when_back(
    shared: FakeShared, clock: Clock
) -> None:
    metrics = Metrics()
    rl = RateLimiter(shared, metrics, clock=clock, retry_shared=0)
    alice = [Limit(PER_MINUTE, "alice")]
    shared.down = True
    assert await rl.hit(alice) is None
    assert not rl.shared_available
    shared.down = False
    assert await rl.hit(alice) is None  # decided here; the store is asked meanwhile
    await let_the_retry_run()
    assert rl.shared_available
    assert metrics.gauges[LOCAL_GAUGE] == 0
    # The shared store missed the hit made while it was down; it counts its own.
    assert shared.windows.peek([alice[0].check(clock.now)])[0].total == 1


async def test_the_request_that_retries_the_store_does_not_wait_for_it(
    shared: FakeShared, clock: Clock
) -> None:
    """With PostgreSQL frozen, each retry of the store (one a second) cost its
    request the limiter's whole deadline: failover's send p99 was over 250 ms."""
    rl = RateLimiter(shared, Metrics(), clock=clock, retry_shared=0)
    alice = [Limit(PER_MINUTE, "alice")]
    shared.down = True
    assert await rl.hit(alice) is None
    frozen = asyncio.Event()
    shared.hit_many = lambda hits: frozen.wait()  # type: ignore[assignment,method-assign]
    answered = await asyncio.wait_for(rl.hit(alice), timeout=1.0)
    assert answered is None
    assert not rl.shared_available
    frozen.set()


async def test_a_bug_in_the_store_is_not_hidden(shared: FakeShared, clock: Clock) -> None:
    rl = limiter(shared, clock)
    shared.broken = True
    with pytest.raises(StorageConflict):
        await rl.hit([Limit(PER_MINUTE, "alice")])


async def test_clear_forgets_here_and_in_the_store(shared: FakeShared, clock: Clock) -> None:
    rl = limiter(shared, clock)
    alice = [Limit(PER_MINUTE, "alice")]
    for _ in range(3):
        await rl.hit(alice)
    assert await rl.peek(alice) is not None
    await rl.clear(alice)
    assert await rl.peek(alice) is None
    assert await rl.hit(alice) is None


def test_local_windows_forget_expired_keys(clock: Clock) -> None:
    windows = LocalWindows()
    check = Limit(PER_MINUTE, "alice").check(clock.now)
    windows.record([check], 1)
    assert windows.prune(clock.now + 59) == 0
    assert windows.prune(clock.now + 60) == 1
    assert windows.peek([check])[0].total == 0


async def test_the_shared_store_missing_its_deadline_stalls_the_server(
    shared: FakeShared, clock: Clock
) -> None:
    """The limiter's short deadline is often the first to see PostgreSQL
    frozen; the message path's writes read the same `Stall`."""
    stall = Stall()
    rl = RateLimiter(shared, Metrics(), clock=clock, retry_shared=0, stall=stall)
    alice = [Limit(PER_MINUTE, "alice")]
    assert await rl.hit(alice) is None
    assert not stall.stalled
    shared.down = True
    assert await rl.hit(alice) is None
    assert stall.stalled
    shared.down = False
    assert await rl.hit(alice) is None  # decided here; the store is asked meanwhile
    await let_the_retry_run()
    assert not stall.stalled


async def test_a_hit_queued_behind_frozen_calls_is_decided_within_the_deadline(
    shared: FakeShared, clock: Clock
) -> None:
    """The wait for the calls before its own counts against a hit's deadline:
    with both calls in flight hanging, the hit queued behind them is decided
    locally too, and, given up before its call went out, is left out of the
    call that follows them."""
    shared.frozen, shared.deadline = asyncio.Event(), 0.05
    rl = limiter(shared, clock)
    limits = [Limit(PER_MINUTE, "ada")]

    async def calls_out(n: int) -> None:
        while shared.calls < n:
            await asyncio.sleep(0)

    in_flight = []
    for n in (1, 2):  # each hit its own call, both hanging
        in_flight.append(asyncio.ensure_future(rl.hit(limits)))
        await asyncio.wait_for(calls_out(n), 1.0)
    queued = asyncio.ensure_future(rl.hit(limits))
    done, _ = await asyncio.wait({*in_flight, queued}, timeout=1.0)

    assert done == {*in_flight, queued}
    assert [hit.result() for hit in done] == [None] * 3  # room: counted locally
    assert not rl.shared_available
    shared.frozen.set()
    await let_the_retry_run()
    assert shared.calls == 2
