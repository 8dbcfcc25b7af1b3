"""`StoreGuard`: a store's named operations behind its circuit breaker.

Every resilience-aware database call goes through `guard.run(name, fn)`: refused
at once while the breaker is open (or out of half-open trial permits), but for
user calls to the last store standing (`CircuitBreaker.acquire_traffic`); counted
as a failure on unavailability, as a slow call when it ran past its deadline, as
a success (slow or not, by its duration) otherwise. Only Parley's storage errors
are interpreted; anything else (a bug, a conflict, a cancellation) propagates
untouched and does not move the breaker. Answers and missed deadlines also
tell the store's `Stall` (`stalled`: a write's straggler grace is skipped).
A guard for background work (`for_background`) is judged on failures only;
one for catching up (replay, confirmation) also goes on while the breaker is
open for slowness alone on a store that still answers. So does a user call
that no other store can answer (`sole`: a read of a conversation the other
store lacks changes to): slow beats a 503. For the same reason, such a call
and any user call to the last store standing get `last_store_deadline`, on
guards built for calls another store can stand in for (`call_deadline`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

from parley.resilience._breaker import CircuitBreaker, Permit
from parley.resilience._metrics import Metrics
from parley.storage.errors import BreakerOpen, StorageTimeout, StorageUnavailable

T = TypeVar("T")
H = TypeVar("H")


class Runner(Protocol):
    """`PostgresDatabase` or `MongoDatabase`: runs a named operation under a deadline."""

    async def run(
        self,
        name: str,
        fn: Callable[[Any], Coroutine[Any, Any, Any]],
        *,
        deadline: float | None = None,
    ) -> Any: ...


class StoreGuard(Generic[H]):
    def __init__(
        self,
        store: str,
        runner: Runner,
        breaker: CircuitBreaker,
        metrics: Metrics,
        *,
        background: bool = False,
        catch_up: bool = False,
        last_store_deadline: float | None = None,
    ):
        self.store = store
        self.runner = runner
        self.breaker = breaker
        self.metrics = metrics
        # A user call's deadline while no other store can answer it
        # (`call_deadline`); None: the store's own, always.
        self.last_store_deadline = last_store_deadline
        # Background work (confirmation, replay, anti-entropy) is judged on
        # failures only: a batch that is slow or runs past its (long) deadline
        # is not evidence that the store is down for user traffic.
        self.background = background
        # Work that brings the store up to date (replay, confirmation) also
        # goes on while it is open for slowness alone (`admits_catch_up`).
        self.catch_up = catch_up

    def for_background(self, *, catch_up: bool = False) -> StoreGuard[H]:
        """The same store and breaker, for background work; `catch_up` for
        the work that brings the store up to date."""
        return StoreGuard(
            self.store, self.runner, self.breaker, self.metrics, background=True, catch_up=catch_up
        )

    def with_last_store_deadline(self, seconds: float) -> StoreGuard[H]:
        """The same store and breaker, for calls the other store can stand in
        for (DMs): while it cannot, they get `seconds` (`call_deadline`)."""
        return StoreGuard(
            self.store,
            self.runner,
            self.breaker,
            self.metrics,
            background=self.background,
            catch_up=self.catch_up,
            last_store_deadline=seconds,
        )

    def call_deadline(self, sole: bool = False) -> float | None:
        """The deadline of a user call made now: the store's own (None), or
        `last_store_deadline` when no other store can answer it: the other
        store's breaker is not closed, or the call is `sole`. There a missed
        deadline is a 503, not a fallback, so a store that is slow but
        answering gets longer before its caller gives up."""
        if self.background or not (sole or self.breaker.is_last_standing):
            return None
        return self.last_store_deadline

    @property
    def available(self) -> bool:
        """Whether calls through this guard go ahead now: for user calls, while
        the breaker admits traffic (`CircuitBreaker.admits_traffic`); for
        catching up, also while it is open for slowness alone on a store that
        still answers (`admits_catch_up`); for other background work, while it
        is not open."""
        if self.catch_up:
            return self.breaker.admits_catch_up
        if self.background:
            return not self.breaker.is_open
        return self.breaker.admits_traffic

    def _acquire(self, sole: bool) -> Permit | None:
        if self.catch_up or (sole and not self.background):
            return self.breaker.acquire_catch_up()
        if self.background:
            return self.breaker.acquire()
        return self.breaker.acquire_traffic()

    @property
    def stalled(self) -> bool:
        """A call missed its deadline and the store has not answered since."""
        return self.breaker.stall.stalled

    async def run(
        self,
        name: str,
        fn: Callable[[H], Coroutine[Any, Any, T]],
        *,
        deadline: float | None = None,
        sole: bool = False,
    ) -> T:
        """Run `fn` under the breaker. `sole`: no other store can answer this
        call, so it goes ahead while the breaker is open for slowness alone on
        a store that still answers (as catching up does)."""
        permit = self._acquire(sole)
        if permit is None:
            self.metrics.count("refused", self.store, name)
            raise BreakerOpen(f"{self.store} circuit is open", store=self.store, operation=name)
        if deadline is None:
            deadline = self.call_deadline(sole)
        started = time.monotonic()
        try:
            result: T = await self.breaker.stall.watch(self.runner.run(name, fn, deadline=deadline))
        except StorageTimeout as exc:
            if self.background:
                permit.release()
            else:
                permit.timed_out(exc)
            self.metrics.count("unavailable", self.store, name)
            raise
        except StorageUnavailable as exc:
            permit.failed(exc)
            self.metrics.count("unavailable", self.store, name)
            raise
        except BaseException:  # a bug, a conflict, a cancellation: not the store's health
            permit.release()
            raise
        permit.succeeded(0.0 if self.background else time.monotonic() - started)
        self.metrics.count("ok", self.store, name)
        return result
