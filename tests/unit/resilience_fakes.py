"""Stand-ins for a store's runner in unit tests of pure resilience logic (the
integration and fault tests use the real servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from parley.resilience import BreakerPolicy, CircuitBreaker, Metrics, StoreGuard


class Clock:
    """A monotonic clock that moves only when a test sets `now`."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakeRunner:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def run(
        self, name: str, fn: Callable[[Any], Awaitable[Any]], *, deadline: float | None = None
    ) -> Any:
        self.calls.append(name)
        return await fn(None)


class DeadlineRunner(FakeRunner):
    """A runner that records the deadline each call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.deadlines: list[float | None] = []

    async def run(
        self, name: str, fn: Callable[[Any], Awaitable[Any]], *, deadline: float | None = None
    ) -> Any:
        self.deadlines.append(deadline)
        return await super().run(name, fn, deadline=deadline)


async def _never() -> None:
    await asyncio.Event().wait()


def breaker(store: str, threshold: int = 3) -> CircuitBreaker:
    """A breaker that judges after `threshold` calls (its minimum) and whose
    probe never answers."""
    return CircuitBreaker(
        store, _never, BreakerPolicy(minimum_calls=threshold, probe_interval=0.01)
    )


def guard(store: str, threshold: int = 3) -> tuple[StoreGuard[Any], FakeRunner]:
    """A guard whose breaker judges after `threshold` calls (its minimum)."""
    runner = FakeRunner()
    return StoreGuard(store, runner, breaker(store, threshold), Metrics()), runner


def returns(value: Any, delay: float = 0) -> Callable[[Any], Awaitable[Any]]:
    async def operation(_: Any) -> Any:
        if delay:
            await asyncio.sleep(delay)
        return value

    return operation


def raises(error: BaseException, delay: float = 0) -> Callable[[Any], Awaitable[Any]]:
    async def operation(_: Any) -> Any:
        if delay:
            await asyncio.sleep(delay)
        raise error

    return operation
