"""`StoreGuard`: a store's named operations behind its circuit breaker.

Every resilience-aware database call goes through `guard.run(name, fn)`: refused
at once while the breaker is open, counted as a failure on unavailability, as a
success otherwise. Only Parley's storage errors are interpreted; anything else
(a bug) propagates untouched and does not move the breaker.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

from parley.resilience._breaker import CircuitBreaker
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
    ):
        self.store = store
        self.runner = runner
        self.breaker = breaker
        self.metrics = metrics
        # Background work (confirmation, replay) that merely runs past its
        # deadline does not count against the breaker: a slow batch is not
        # evidence that the store is down for user traffic.
        self.background = background

    def for_background(self) -> StoreGuard[H]:
        """The same store and breaker, for background work."""
        return StoreGuard(self.store, self.runner, self.breaker, self.metrics, background=True)

    @property
    def available(self) -> bool:
        return not self.breaker.is_open

    async def run(
        self,
        name: str,
        fn: Callable[[H], Coroutine[Any, Any, T]],
        *,
        deadline: float | None = None,
    ) -> T:
        if not self.breaker.allow():
            self.metrics.count("refused", self.store, name)
            raise BreakerOpen(f"{self.store} circuit is open", store=self.store, operation=name)
        try:
            result: T = await self.runner.run(name, fn, deadline=deadline)
        except StorageUnavailable as exc:
            if not (self.background and isinstance(exc, StorageTimeout)):
                self.breaker.record_failure(exc)
            self.metrics.count("unavailable", self.store, name)
            raise
        self.breaker.record_success()
        self.metrics.count("ok", self.store, name)
        return result
