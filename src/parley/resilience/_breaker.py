"""A circuit breaker per store, on resilience4j's model: it judges a store by
the *rates* of failed and of slow calls over its recent calls, not by a run of
consecutive errors, so a busy store is not mistaken for a dead one.

    closed ──(≥ minimum_calls in the window and failure rate ≥ failure_rate,
              or slow-call rate ≥ slow_call_rate)──▶ open
    open ──(open_wait passed, the background probe answers)──▶ recovery hooks ──▶ half-open
    half-open ──(half_open_calls trial outcomes, both rates under their thresholds)──▶ closed
    half-open ──(either rate at or over its threshold)──▶ open

What a call's outcome counts as:

- *success*: it answered; *slow* as well when it took `slow_call_duration` or more.
- *failure*: the store refused or dropped it (connection refused or reset, not
  primary): evidence it is down.
- *timeout*: it ran past its deadline. Its outcome is unknown, so it is a slow
  call, never a failure: only a slow-call rate at the threshold opens the
  breaker on timeouts (a frozen store: every call is slow).
- *ignored*: cancelled, or a bug; the call says nothing about the store.

*The last store standing is not opened for slowness.* Paired breakers
(`pair`) know each other: unless the other store's breaker is closed, this one
opens on failures only. Opening a breaker sends its calls to the other store;
with that one down there is nowhere to send them, and opening would turn slow
answers into refusals (seen with PostgreSQL down and the local MongoDB role
busy serving everything alone: every DM request failed with 503). A half-open
peer is not a fallback yet: it lets a few trial calls through and refuses the
rest (seen at 70 % of saturation: MongoDB opened for slowness the moment
PostgreSQL's breaker went half-open after a freeze, and 50 sends failed with
both stores refusing). For the same reason a breaker open for slowness alone,
on a store that still answers, takes user traffic again while its peer is
not closed (`acquire_traffic`): the other store went down after this one was
judged slow. When its probe then answers, it closes at once instead of going
half-open, whose few trial permits would refuse everyone else again.

The window is a count-based sliding window of the last `window` outcomes. While
open, calls are refused at once (`BreakerOpen`) instead of each waiting out a
deadline on a dead or frozen server (but for the last store standing and
catching up, above and below). After `open_wait` a background probe pings
the store every `probe_interval`; the first answer runs the recovery hooks (for
example, refreshing which conversations MongoDB is still missing, so no read
hides a message) and moves to half-open, where `half_open_calls` trial calls are
let through (the probe keeps pinging and its answers count as trials too, so
the breaker decides even with no traffic). State changes are logged once each;
refusals are logged as a periodic count, never one line per request.

*Catching up goes on against a store that is only slow.* A breaker opened
by its slow-call rate alone, on a store that still answers (not stalled),
admits the calls that bring the store up to date (`acquire_catch_up`:
replay, confirmation; not anti-entropy's long scans): user
traffic goes to the other store, but what the slow store missed keeps
arriving, at the pace it answers, instead of piling up until it is fast again
(seen at 70 % of saturation: FerretDB, busy catching up, opened for slowness,
replay paused with it, and convergence took 42 s). A failure, or a tripped
breaker, stops that until it closes; a stall (a missed deadline with no answer
since: a frozen store) until the store answers again, the probe's ping included.

The breaker only counts; it never waits, and it knows nothing of the drivers.
It also carries the store's `Stall` (a missed deadline with no answer since),
which its guards and the rate limiter keep, and which it does not act on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from parley.resilience._stall import Stall
from parley.storage.errors import StorageError, StorageTimeout

log = structlog.get_logger("parley.breaker")

Probe = Callable[[], Awaitable[object]]
RecoveryHook = Callable[[], Awaitable[None]]
REFUSAL_LOG_INTERVAL = 5.0

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """The breaker's knobs (see docs/OPERATIONS.md for how to tune them)."""

    window: int = 10
    minimum_calls: int = 5
    failure_rate: float = 0.5  # fraction of the window, 0 < rate <= 1
    slow_call_rate: float = 1.0
    slow_call_duration: float = 0.5  # seconds
    open_wait: float = 1.0  # seconds open before the probe may move to half-open
    half_open_calls: int = 3
    probe_interval: float = 0.25


@dataclass(frozen=True)
class Outcome:
    failed: bool
    slow: bool
    error: str = ""


@dataclass(frozen=True)
class Rates:
    calls: int
    failure: float
    slow: float

    def describe(self) -> str:
        return f"{self.failure:.0%} failed, {self.slow:.0%} slow of the last {self.calls} calls"


def _rates(outcomes: list[Outcome] | deque[Outcome]) -> Rates:
    calls = len(outcomes)
    failed = sum(o.failed for o in outcomes)
    slow = sum(o.slow for o in outcomes)
    return Rates(calls, failed / calls if calls else 0.0, slow / calls if calls else 0.0)


class Permit:
    """Permission for one call; report its outcome exactly once (`succeeded`,
    `failed`, `timed_out`, or `release` when it says nothing about the store)."""

    __slots__ = ("_breaker", "_done", "_generation", "_trial")

    def __init__(self, breaker: CircuitBreaker, generation: int, trial: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self._trial = trial
        self._done = False

    def succeeded(self, seconds: float) -> None:
        self._finish(Outcome(False, seconds >= self._breaker.policy.slow_call_duration))

    def failed(self, error: BaseException | str) -> None:
        self._finish(Outcome(True, False, str(error)))

    def timed_out(self, error: BaseException | str) -> None:
        self._finish(Outcome(False, True, str(error)))

    def release(self) -> None:
        self._finish(None)

    def _finish(self, outcome: Outcome | None) -> None:
        if self._done:
            return
        self._done = True
        self._breaker._settle(self._generation, self._trial, outcome)


class CircuitBreaker:
    def __init__(
        self,
        store: str,
        probe: Probe,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.policy = policy or BreakerPolicy()
        self._probe = probe
        self._clock = clock
        self._state = CLOSED
        self._generation = 0  # bumped on every state change: late outcomes are dropped
        self._window: deque[Outcome] = deque(maxlen=self.policy.window)
        self._trials: list[Outcome] = []
        self._trials_in_flight = 0
        self._opened_at = 0.0
        self._open_for_slowness = False  # opened by the slow-call rate alone
        self._not_closed = asyncio.Event()
        self._recovery_hooks: list[RecoveryHook] = []
        self._refused = 0
        self._refusals_logged_at = 0.0
        self._peer: CircuitBreaker | None = None
        self.opened_count = 0
        # Not a state of the breaker: the earlier signal its users read (`Stall`).
        self.stall = Stall(clock)

    def pair(self, other: CircuitBreaker) -> None:
        """The two stores' breakers: each is the other's fallback."""
        self._peer, other._peer = other, self

    # -- state ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Open: calls are refused (but see `admits_traffic` and
        `admits_catch_up`). Half-open counts as not open (trial calls pass)."""
        return self._state == OPEN

    @property
    def state(self) -> str:
        return self._state

    @property
    def admits_traffic(self) -> bool:
        """Whether user calls go ahead now: not open, or open for slowness
        alone on a store that still answers while the other store takes no
        traffic (the last store standing)."""
        if self._state != OPEN:
            return True
        return self.admits_catch_up and self.is_last_standing

    @property
    def is_last_standing(self) -> bool:
        """Whether this store answers alone: its paired store's breaker is not
        closed (open, or half-open, letting only trial calls through)."""
        return not self._has_fallback()

    @property
    def admits_catch_up(self) -> bool:
        """Whether calls that bring the store up to date (replay, confirmation)
        may go ahead now: not open, or open for slowness alone on a store that
        still answers."""
        if self._state != OPEN:
            return True
        return self._open_for_slowness and not self.stall.stalled

    def rates(self) -> Rates:
        """The failure and slow-call rates over the current window."""
        return _rates(self._window)

    def on_recovery(self, hook: RecoveryHook) -> None:
        self._recovery_hooks.append(hook)

    # -- calls ---------------------------------------------------------------------

    def acquire(self) -> Permit | None:
        """A permit for one call, or None when the call must be refused."""
        if self._state == CLOSED:
            return Permit(self, self._generation, trial=False)
        if self._state == HALF_OPEN and (
            len(self._trials) + self._trials_in_flight < self.policy.half_open_calls
        ):
            self._trials_in_flight += 1
            return Permit(self, self._generation, trial=True)
        self._count_refusal()
        return None

    def acquire_traffic(self) -> Permit | None:
        """A permit for a user call: as `acquire`, and also while open when
        `admits_traffic` (the last store standing; its outcome then counts
        only if it failed, which ends that)."""
        return self._acquire_while_open_if(self.admits_traffic)

    def acquire_catch_up(self) -> Permit | None:
        """A permit for catching up: as `acquire`, and also while open when
        `admits_catch_up` (its outcome then counts only if it failed, which
        ends that)."""
        return self._acquire_while_open_if(self.admits_catch_up)

    def _acquire_while_open_if(self, admitted: bool) -> Permit | None:
        """`acquire`, or while open and `admitted`, a permit outside the window."""
        if self._state == OPEN and admitted:
            return Permit(self, self._generation, trial=False)
        return self.acquire()

    def allow(self) -> bool:
        """Whether a user call may go ahead now (without tracking its outcome)."""
        permit = self.acquire_traffic()
        if permit is None:
            return False
        permit.release()
        return True

    # Outcomes observed outside a permit (health probes): counted like calls.
    def record_success(self, seconds: float = 0.0) -> None:
        Permit(self, self._generation, trial=False).succeeded(seconds)

    def record_failure(self, error: BaseException | str) -> None:
        if isinstance(error, StorageTimeout):
            Permit(self, self._generation, trial=False).timed_out(error)
        else:
            Permit(self, self._generation, trial=False).failed(error)

    def _settle(self, generation: int, trial: bool, outcome: Outcome | None) -> None:
        if generation != self._generation:
            return  # started before the last state change: says nothing about now
        if self._state == HALF_OPEN:
            if trial:
                self._trials_in_flight = max(0, self._trials_in_flight - 1)
            if outcome is not None:
                self._trials.append(outcome)
                self._judge_trials()
        elif self._state == CLOSED and outcome is not None:
            self._window.append(outcome)
            rates = _rates(self._window)
            if rates.calls >= min(self.policy.minimum_calls, self.policy.window) and (
                self._over_thresholds(rates)
            ):
                self._open(f"{rates.describe()}; last: {outcome.error or 'slow'}", rates)
        elif self._state == OPEN and outcome is not None and outcome.failed:
            self._open_for_slowness = False  # a background call found it down

    def _over_thresholds(self, rates: Rates) -> bool:
        if rates.failure >= self.policy.failure_rate:
            return True
        return self._has_fallback() and rates.slow >= self.policy.slow_call_rate

    def _has_fallback(self) -> bool:
        """Whether the other store takes this one's traffic: unpaired, or its
        breaker closed (a half-open one refuses all but its trial calls)."""
        return self._peer is None or self._peer.state == CLOSED

    def _judge_trials(self) -> None:
        if len(self._trials) < self.policy.half_open_calls:
            return
        rates = _rates(self._trials)
        if self._over_thresholds(rates):
            errors = [o.error for o in self._trials if o.error]
            last = errors[-1] if errors else "slow"
            self._open(f"trial calls: {rates.describe()}; last: {last}", rates)
        else:
            self._close()

    # -- transitions ---------------------------------------------------------------

    def _change(self, state: str) -> None:
        self._state = state
        self._generation += 1
        self._window.clear()
        self._trials.clear()
        self._trials_in_flight = 0
        if state == CLOSED:
            self._not_closed.clear()
        else:
            self._not_closed.set()

    def _open(self, reason: str, rates: Rates | None = None) -> None:
        """Open; `rates` are the ones that opened it (None: tripped)."""
        self._change(OPEN)
        self._open_for_slowness = rates is not None and rates.failure < self.policy.failure_rate
        self._opened_at = self._clock()
        self._refused = 0
        self._refusals_logged_at = self._opened_at
        self.opened_count += 1
        log.warning("breaker_opened", store=self.store, error=reason)

    def _close(self) -> None:
        self._change(CLOSED)
        log.info("breaker_closed", store=self.store, refused_while_open=self._refused)

    def trip(self, error: BaseException | str) -> None:
        """Open now, whatever the rates (an operator's or a test's decision);
        background work stops too."""
        if self._state != OPEN:
            self._open(str(error))
        self._open_for_slowness = False

    async def _run_recovery_hooks(self) -> None:
        for hook in self._recovery_hooks:
            await hook()

    async def recover(self) -> None:
        """Run the recovery hooks, then close at once, skipping half-open."""
        await self._run_recovery_hooks()
        if self._state != CLOSED:
            self._close()

    async def half_open(self) -> None:
        """Run the recovery hooks (still open: no user traffic reaches the
        store before they finish), then let trial calls through; or close at
        once when only slowness opened it and the other store takes no
        traffic (slow trials could not reopen it, and the few trial permits
        would refuse every other call meanwhile)."""
        await self._run_recovery_hooks()
        if self._state == OPEN and self._open_for_slowness and self.is_last_standing:
            self._close()
        elif self._state == OPEN:
            self._change(HALF_OPEN)
            log.info("breaker_half_open", store=self.store, refused_while_open=self._refused)

    def _count_refusal(self) -> None:
        self._refused += 1
        now = self._clock()
        if now - self._refusals_logged_at >= REFUSAL_LOG_INTERVAL:
            log.warning("breaker_refusing", store=self.store, refused=self._refused)
            self._refusals_logged_at = now

    # -- the probe -----------------------------------------------------------------

    async def probe_once(self) -> None:
        """One step of the probe loop (open: maybe move to half-open; half-open:
        one trial call)."""
        if self._state == OPEN:
            if self._clock() - self._opened_at < self.policy.open_wait:
                return
            try:
                await self._probe()
            except StorageError as exc:
                log.debug("breaker_probe_failed", store=self.store, error=str(exc))
                return
            self.stall.answered()
            await self.half_open()
        elif self._state == HALF_OPEN:
            permit = Permit(self, self._generation, trial=False)
            started = self._clock()
            try:
                await self._probe()
            except StorageTimeout as exc:
                permit.timed_out(exc)
            except StorageError as exc:
                permit.failed(exc)
            else:
                self.stall.answered()
                permit.succeeded(self._clock() - started)

    async def run_probe_loop(self) -> None:
        """Background task: while not closed, probe every `probe_interval`."""
        while True:
            await self._not_closed.wait()
            await asyncio.sleep(self.policy.probe_interval)
            try:
                await self.probe_once()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # this loop is being stopped
                # A cancellation that escaped a driver call, not meant for this
                # loop: without the loop the breaker would stay open for good.
                log.exception("breaker_probe_crashed", store=self.store)
            except Exception:  # a bug in a hook or the probe must not end the loop
                log.exception("breaker_probe_crashed", store=self.store)
