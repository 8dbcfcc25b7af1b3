"""Each transition of the circuit breaker (resilience4j's model), driven by a
fake clock and explicit probe steps, so nothing here sleeps or races."""

from __future__ import annotations

import asyncio

import pytest

from parley.resilience import BreakerPolicy, CircuitBreaker
from parley.resilience._breaker import CLOSED, HALF_OPEN, OPEN
from parley.storage.errors import StorageTimeout, StorageUnavailable
from tests.unit.resilience_fakes import Clock

DOWN = StorageUnavailable("connection refused", store="mongodb")
LATE = StorageTimeout("ran past its deadline", store="mongodb")
POLICY = BreakerPolicy(
    window=10,
    minimum_calls=5,
    failure_rate=0.5,
    slow_call_rate=0.8,
    slow_call_duration=0.5,
    open_wait=1.0,
    half_open_calls=3,
)


class Probe:
    """A store ping that answers or raises as told."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


def make(policy: BreakerPolicy = POLICY) -> tuple[CircuitBreaker, Clock, Probe]:
    clock, probe = Clock(), Probe()
    return CircuitBreaker("mongodb", probe, policy, clock=clock), clock, probe


def calls(breaker: CircuitBreaker, pattern: str) -> None:
    """One call per letter: f failed, t timed out, s slow success, . fast success."""
    for letter in pattern:
        permit = breaker.acquire()
        assert permit is not None, f"refused at {letter!r}"
        if letter == "f":
            permit.failed(DOWN)
        elif letter == "t":
            permit.timed_out(LATE)
        else:
            permit.succeeded(0.6 if letter == "s" else 0.01)


async def opened(breaker: CircuitBreaker, clock: Clock) -> None:
    """Bring a fresh breaker to open, with its wait already over."""
    calls(breaker, "fffff")
    assert breaker.state == OPEN
    clock.now += POLICY.open_wait


# -- closed ----------------------------------------------------------------------


def test_nothing_is_judged_before_the_minimum_number_of_calls() -> None:
    breaker, _, _ = make()
    calls(breaker, "ffff")
    assert breaker.state == CLOSED
    calls(breaker, "f")
    assert breaker.state == OPEN and breaker.opened_count == 1


def test_a_store_failing_half_its_calls_opens_although_successes_interleave() -> None:
    breaker, _, _ = make()
    calls(breaker, ".f.f.")  # 40% failed over 5 calls
    assert breaker.state == CLOSED
    calls(breaker, "f")  # 50% over 6
    assert breaker.state == OPEN


def test_a_failure_rate_under_the_threshold_never_opens() -> None:
    breaker, _, _ = make()
    calls(breaker, "..f" * 20)  # a third of all calls fail, forever
    assert breaker.state == CLOSED


def test_the_window_slides_so_old_failures_are_forgotten() -> None:
    breaker, _, _ = make()
    calls(breaker, "......ffff" + "." * 10)  # the failures slid out of the window
    calls(breaker, "ffff")  # 40% of the last ten (80% if the old ones still counted)
    assert breaker.state == CLOSED


def test_a_slow_but_answering_store_stays_closed_under_the_slow_rate_threshold() -> None:
    breaker, _, _ = make()
    calls(breaker, "..sss.ssss" * 5)  # 70% slow, none failed
    assert breaker.state == CLOSED
    assert breaker.rates().slow == pytest.approx(0.7)


def test_slow_calls_open_it_once_the_slow_rate_reaches_its_threshold() -> None:
    breaker, _, _ = make()
    calls(breaker, "..sssssss")  # 7 of 9 slow: 78%
    assert breaker.state == CLOSED
    calls(breaker, "s")  # 8 of 10: 80%
    assert breaker.state == OPEN


def test_timeouts_are_slow_calls_not_failures() -> None:
    breaker, _, _ = make()
    calls(breaker, "...ttttttt")  # 70% slow, 0% failed: a busy store
    assert breaker.state == CLOSED
    assert breaker.rates().failure == 0
    calls(breaker, "t")  # the oldest fast call slides out: 80% slow (a frozen store)
    assert breaker.state == OPEN


def test_one_failed_health_probe_does_not_open_it() -> None:
    breaker, _, _ = make()
    calls(breaker, "....")
    breaker.record_failure("HEALTH_PING_MONGO ran past its deadline")
    assert breaker.state == CLOSED
    breaker.record_success(0.003)
    assert breaker.rates().calls == 6


# -- open ------------------------------------------------------------------------


async def test_open_refuses_calls_and_waits_before_probing() -> None:
    breaker, clock, probe = make()
    calls(breaker, "fffff")
    assert breaker.acquire() is None and not breaker.allow()
    clock.now += POLICY.open_wait - 0.01
    await breaker.probe_once()
    assert probe.calls == 0 and breaker.state == OPEN
    clock.now += 0.01
    probe.error = DOWN
    await breaker.probe_once()
    assert probe.calls == 1 and breaker.state == OPEN  # still down: stays open


async def test_an_answering_probe_runs_the_hooks_while_open_then_half_opens() -> None:
    breaker, clock, _ = make()
    seen: list[str] = []

    async def hook() -> None:
        seen.append(breaker.state)

    breaker.on_recovery(hook)
    await opened(breaker, clock)
    await breaker.probe_once()
    assert seen == [OPEN]
    assert breaker.state == HALF_OPEN and not breaker.is_open


# -- half-open -------------------------------------------------------------------


async def half_opened() -> tuple[CircuitBreaker, Clock, Probe]:
    breaker, clock, probe = make()
    await opened(breaker, clock)
    await breaker.probe_once()
    assert breaker.state == HALF_OPEN
    return breaker, clock, probe


async def test_half_open_lets_exactly_the_permitted_trial_calls_through() -> None:
    breaker, _, _ = await half_opened()
    trials = [breaker.acquire() for _ in range(POLICY.half_open_calls)]
    assert all(trials)
    assert breaker.acquire() is None  # the rest fall back meanwhile
    for permit in trials:
        assert permit is not None
        permit.succeeded(0.01)
    assert breaker.state == CLOSED
    assert breaker.rates().calls == 0  # a fresh window


async def test_failing_trial_calls_open_it_again_for_another_wait() -> None:
    breaker, clock, probe = await half_opened()
    calls(breaker, "f.f")
    assert breaker.state == OPEN and breaker.opened_count == 2
    await breaker.probe_once()
    assert probe.calls == 1  # the earlier answer; this wait has not passed yet
    clock.now += POLICY.open_wait
    await breaker.probe_once()
    assert breaker.state == HALF_OPEN


async def test_slow_trial_calls_open_it_again() -> None:
    breaker, _, _ = await half_opened()
    calls(breaker, "tt.")  # 67% slow is under 80%...
    assert breaker.state == CLOSED
    breaker2, _, _ = await half_opened()
    calls(breaker2, "ttt")  # ... all slow is not
    assert breaker2.state == OPEN


async def test_probe_answers_are_trials_so_it_closes_without_traffic() -> None:
    breaker, _, probe = await half_opened()
    for _ in range(POLICY.half_open_calls):
        assert breaker.state == HALF_OPEN
        await breaker.probe_once()
    assert breaker.state == CLOSED
    assert probe.calls == 1 + POLICY.half_open_calls


async def test_failing_probes_in_half_open_reopen_it() -> None:
    breaker, _, probe = await half_opened()
    probe.error = LATE
    for _ in range(POLICY.half_open_calls):
        await breaker.probe_once()
    assert breaker.state == OPEN


async def test_released_trial_permits_return_so_half_open_cannot_wedge() -> None:
    breaker, _, _ = await half_opened()
    for _ in range(5):  # cancelled calls, bugs: they say nothing about the store
        permit = breaker.acquire()
        assert permit is not None
        permit.release()
    calls(breaker, "...")
    assert breaker.state == CLOSED


async def test_a_late_outcome_from_before_a_state_change_is_ignored() -> None:
    breaker, clock, _ = make()
    slow_read = breaker.acquire()
    assert slow_read is not None
    await opened(breaker, clock)
    await breaker.probe_once()
    slow_read.failed(DOWN)  # started while closed, ends while half-open
    calls(breaker, "...")
    assert breaker.state == CLOSED


async def test_each_outcome_is_reported_once() -> None:
    breaker, _, _ = make()
    permit = breaker.acquire()
    assert permit is not None
    permit.failed(DOWN)
    permit.failed(DOWN)
    assert breaker.rates().calls == 1


# -- operators, tests, the probe loop ---------------------------------------------


async def test_trip_is_idempotent_and_recover_closes_after_the_hooks() -> None:
    breaker, _, _ = make()
    order: list[str] = []

    async def hook() -> None:
        order.append(breaker.state)

    breaker.on_recovery(hook)
    breaker.trip("health probe failed")
    breaker.trip("again")
    assert breaker.opened_count == 1
    await breaker.recover()
    assert order == [OPEN] and breaker.state == CLOSED


async def test_the_probe_loop_survives_a_crashing_hook_and_closes_it() -> None:
    hooks: list[str] = []

    async def hook() -> None:
        hooks.append("ran")
        if len(hooks) == 1:
            raise RuntimeError("a bug in a hook")

    breaker = CircuitBreaker(
        "postgresql",
        lambda: asyncio.sleep(0),
        BreakerPolicy(open_wait=0, probe_interval=0.001, half_open_calls=2),
    )
    breaker.on_recovery(hook)
    loop = asyncio.create_task(breaker.run_probe_loop())
    breaker.trip("down")
    try:
        for _ in range(500):
            if breaker.state == CLOSED:
                break
            await asyncio.sleep(0.002)
    finally:
        loop.cancel()
    assert breaker.state == CLOSED and hooks == ["ran", "ran"]


async def test_the_probe_loop_survives_a_stray_cancellation_but_stops_when_cancelled() -> None:
    answers: list[BaseException | None] = [asyncio.CancelledError(), None, None]

    async def probe() -> None:
        answer = answers.pop(0) if answers else None
        if answer is not None:
            raise answer

    breaker = CircuitBreaker(
        "mongodb", probe, BreakerPolicy(open_wait=0, probe_interval=0.001, half_open_calls=2)
    )
    loop = asyncio.create_task(breaker.run_probe_loop())
    breaker.trip("down")
    for _ in range(500):
        if breaker.state == CLOSED:
            break
        await asyncio.sleep(0.002)
    assert breaker.state == CLOSED and not loop.done()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


# -- the last store standing -------------------------------------------------------


def pair() -> tuple[CircuitBreaker, CircuitBreaker]:
    (mongo, _, _), (postgres, _, _) = make(), make()
    mongo.pair(postgres)
    return mongo, postgres


def test_the_last_store_standing_is_not_opened_for_slowness() -> None:
    mongo, postgres = pair()
    postgres.trip("PostgreSQL is down")
    calls(mongo, "tttttttttt")  # every call past its deadline: busy serving everything
    assert mongo.state == CLOSED


def test_the_last_store_standing_still_opens_on_failures() -> None:
    mongo, postgres = pair()
    postgres.trip("PostgreSQL is down")
    calls(mongo, "fffff")
    assert mongo.state == OPEN


def test_slowness_opens_it_again_once_the_other_store_is_back() -> None:
    mongo, postgres = pair()
    postgres.trip("PostgreSQL is down")
    calls(mongo, "tttttttttt")
    postgres._close()
    calls(mongo, "t")
    assert mongo.state == OPEN


async def test_a_half_open_last_store_closes_on_slow_trials() -> None:
    mongo, postgres = pair()
    calls(mongo, "fffff")
    mongo._opened_at -= POLICY.open_wait
    await mongo.probe_once()
    assert mongo.state == HALF_OPEN
    postgres.trip("PostgreSQL went down meanwhile")
    calls(mongo, "sss")
    assert mongo.state == CLOSED


# -- background work while open --------------------------------------------------


def test_background_work_goes_on_against_a_store_open_only_for_slowness() -> None:
    breaker, _, _ = make()
    calls(breaker, "ttttt")  # every call past its deadline
    breaker.stall.answered()  # but the store still answers (busy, not frozen)
    assert breaker.state == OPEN
    assert breaker.acquire() is None  # user traffic goes elsewhere
    assert breaker.admits_catch_up
    permit = breaker.acquire_catch_up()
    assert permit is not None
    permit.succeeded(3.0)
    assert breaker.state == OPEN  # background outcomes do not close it


def test_background_work_waits_while_the_slow_store_has_stopped_answering() -> None:
    breaker, clock, _ = make()
    calls(breaker, "ttttt")
    breaker.stall.missed_deadline(breaker.stall.now())  # frozen: no answer since
    assert not breaker.admits_catch_up
    assert breaker.acquire_catch_up() is None
    clock.now += 1
    breaker.stall.answered()
    assert breaker.admits_catch_up


def test_background_work_waits_while_the_store_is_open_for_failures() -> None:
    breaker, _, _ = make()
    calls(breaker, "fffff")
    assert not breaker.admits_catch_up
    assert breaker.acquire_catch_up() is None


def test_a_tripped_breaker_admits_no_background_work() -> None:
    breaker, _, _ = make()
    breaker.trip("an operator's decision")
    assert not breaker.admits_catch_up


def test_tripping_a_breaker_open_for_slowness_stops_background_work() -> None:
    breaker, _, _ = make()
    calls(breaker, "ttttt")
    assert breaker.admits_catch_up
    breaker.trip("an operator's decision")
    assert not breaker.admits_catch_up


async def test_a_probe_answer_ends_the_stall_so_catching_up_resumes() -> None:
    breaker, clock, _ = make()
    calls(breaker, "ttttt")
    breaker.stall.missed_deadline(breaker.stall.now())
    assert not breaker.admits_catch_up
    clock.now += POLICY.open_wait
    await breaker.probe_once()  # it answers: half-open, and no longer stalled
    assert not breaker.stall.stalled


def test_a_background_failure_while_open_for_slowness_stops_background_work() -> None:
    breaker, _, _ = make()
    calls(breaker, "ttttt")
    permit = breaker.acquire_catch_up()
    assert permit is not None
    permit.failed(DOWN)  # the slow store went down meanwhile
    assert not breaker.admits_catch_up
    assert breaker.acquire_catch_up() is None


async def test_background_work_resumes_normally_once_closed_again() -> None:
    breaker, clock, _ = make()
    calls(breaker, "fffff")
    clock.now += POLICY.open_wait
    await breaker.probe_once()
    calls(breaker, "...")
    assert breaker.state == CLOSED
    assert breaker.admits_catch_up
    assert breaker.acquire_catch_up() is not None


def test_a_half_open_peer_is_no_fallback_so_slowness_does_not_open_it() -> None:
    mongo, postgres = pair()
    postgres.trip("PostgreSQL froze")
    postgres._change(HALF_OPEN)  # it answered a probe: a few trial calls only
    calls(mongo, "tttttttttt")  # still serving everything alone, slowly
    assert mongo.state == CLOSED


def test_a_store_open_for_slowness_takes_traffic_again_when_its_peer_goes_down() -> None:
    mongo, postgres = pair()
    calls(mongo, "ttttt")
    mongo.stall.answered()  # busy, not frozen
    assert mongo.state == OPEN and mongo.acquire_traffic() is None  # traffic goes to PostgreSQL
    postgres.trip("PostgreSQL went down")
    assert mongo.admits_traffic
    permit = mongo.acquire_traffic()
    assert permit is not None
    permit.succeeded(0.6)
    assert mongo.state == OPEN and mongo.admits_traffic  # a slow answer changes nothing
    assert mongo.acquire() is None  # background work other than catching up stays out
    postgres._close()
    assert not mongo.admits_traffic and mongo.acquire_traffic() is None


async def probed_with_its_peer_down(pattern: str) -> CircuitBreaker:
    """MongoDB opened by `pattern`, PostgreSQL down, then MongoDB's probe answers."""
    mongo, postgres = pair()
    calls(mongo, pattern)
    postgres.trip("PostgreSQL went down")
    mongo._opened_at -= POLICY.open_wait
    await mongo.probe_once()
    return mongo


async def test_the_last_store_standing_closes_when_its_probe_answers() -> None:
    """Not half-open: its three trial permits would refuse everyone else."""
    mongo = await probed_with_its_peer_down("ttttt")
    assert mongo.state == CLOSED
    assert all(mongo.acquire_traffic() is not None for _ in range(10))


async def test_a_store_open_for_failures_still_half_opens_with_its_peer_down() -> None:
    mongo = await probed_with_its_peer_down("fffff")
    assert mongo.state == HALF_OPEN


def test_a_frozen_or_failing_store_open_for_slowness_stays_refused_with_its_peer_down() -> None:
    mongo, postgres = pair()
    calls(mongo, "ttttt")
    mongo.stall.missed_deadline(mongo.stall.now())  # frozen: no answer since
    postgres.trip("PostgreSQL went down")
    assert not mongo.admits_traffic
    mongo.stall.answered()
    permit = mongo.acquire_traffic()
    assert permit is not None
    permit.failed(DOWN)  # it went down too
    assert not mongo.admits_traffic
