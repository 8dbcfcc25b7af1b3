"""A rate limiter whose counts are shared by every instance (PostgreSQL), and
that keeps enforcing limits per instance while the shared store is down.

    RateLimiter.hit(limits)    count one hit against every limit, or none if
                               any is spent; answers None or the seconds to wait
    RateLimiter.peek(limits)   the same answer, counting nothing
    RateLimiter.clear(limits)  forget the counts

Counting (`parley.storage.rate_windows`): a moving window of `seconds` kept
in ten buckets, so a hit stops counting at most `seconds` after it was made
and the wait is known to the bucket. A request refused by one of its limits
counts against none of them, so a client that keeps retrying while refused
gets through again as soon as the window allows.

Two counters, the same counting:

- the shared store (`SharedWindows`, PostgreSQL's `rate_limit_windows`), one
  statement per call under `PARLEY_RATE_LIMIT_DEADLINE`. Hits are group
  committed (`resilience.Coalescer`): while one call is out, the hits that
  arrive wait and go together in the next, counted one after another exactly
  as separate calls would be. A hit may wait for the call before its own,
  within its deadline: one that waited it out is decided locally like one
  whose statement did. A statement per hit was a third of a send's cost
  (BENCHMARKS.md, "HTTP throughput");
- this process's `LocalWindows`, which sees every hit this instance let
  through. It answers alone while the shared store is unavailable: for
  `RETRY_SHARED` seconds after a failure or a missed deadline every decision
  is local, then one check tries the store again in the background (its
  request is still decided locally, and waits for nothing). The transitions are
  logged once each (`rate_limit_store_down`, `rate_limit_store_up`) and
  counted in `/api/metrics`.

Its statements go to the same PostgreSQL server as the message path's, so
their answers and missed deadlines are told to that server's `Stall`: a
statement frozen past this short deadline is usually the first sign of a
frozen server, and a send that waited it out does not then also wait the
write grace for the same server.

Every decision also asks the local counts, and the larger count wins. They
are a floor of what this instance let through: a hit the shared store missed
(its statement ran past the deadline and was cancelled, or the store was down)
is still counted here. Over a limit here, a hit is refused without a round
trip.

What it will not do: decide who is limited (that is `security/throttle.py`),
retry the shared store within a request, or fail a request because the store
is down (it decides locally instead). Any other error is a bug and surfaces.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog
from limits import parse

from parley.resilience import Coalescer, Metrics, Stall
from parley.storage.deadline import detach
from parley.storage.errors import StorageError, StorageTimeout, StorageUnavailable
from parley.storage.rate_windows import Hit, WindowCheck, WindowCounts

log = structlog.get_logger("parley.ratelimit")

T = TypeVar("T")
# Buckets per window: the wait is exact to a tenth of the window.
SPAN = 10
# Seconds every decision stays local after the shared store failed.
RETRY_SHARED = 1.0
# How often expired buckets are removed (the shared table and local memory).
PRUNE_INTERVAL = 60.0
LOCAL_GAUGE = "parley_rate_limit_local_only"
# Hits sent to the shared store in one call at most (see the module docstring).
HIT_BATCH = 50


@dataclass(frozen=True)
class Rule:
    """`amount` hits per `seconds`, under a name that becomes part of its keys."""

    name: str
    amount: int
    seconds: int

    @classmethod
    def parse(cls, name: str, rate: str) -> Rule:
        """From `limits`' notation: `5/minute`, `20/hour`, `10 per 15 minutes`."""
        item = parse(rate)
        return cls(name, item.amount, item.get_expiry())


@dataclass(frozen=True)
class Limit:
    """A rule applied to one subject (an account, an address, a pair)."""

    rule: Rule
    subject: str

    @property
    def key(self) -> str:
        # The window length is in the key: buckets of another length never mix.
        return f"{self.rule.name}/{self.rule.seconds}:{self.subject}"

    def check(self, now: float) -> WindowCheck:
        bucket_seconds = self.rule.seconds / SPAN
        return WindowCheck(
            self.key, int(now // bucket_seconds), SPAN, self.rule.amount, bucket_seconds
        )


def fits(check: WindowCheck, counts: WindowCounts, cost: int) -> bool:
    return counts.total + cost <= check.amount


def wait_seconds(check: WindowCheck, counts: WindowCounts, cost: int, now: float) -> float:
    """Seconds until `cost` more hits fit: until enough of the oldest buckets
    have left the window."""
    excess = counts.total + cost - check.amount
    if excess <= 0:
        return 0.0
    left = 0
    for index, hits in counts.buckets:
        left += hits
        if left >= excess:
            return max(check.drops_out(index) - now, 0.0)
    return max(check.drops_out(check.bucket) - now, 0.0)  # more than the whole window


class SharedWindows(Protocol):
    """The counting every instance shares (`PostgresRateWindows`); `deadline`
    bounds each of its answers, waiting for a group commit included."""

    deadline: float

    async def hit_many(self, hits: Sequence[Hit]) -> list[list[WindowCounts]]: ...
    async def peek(self, checks: Sequence[WindowCheck]) -> list[WindowCounts]: ...
    async def clear(self, keys: Sequence[str]) -> None: ...
    async def prune(self) -> int: ...


class LocalWindows:
    """The same counting in this process's memory."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[int, int]] = {}
        self._expiry: dict[str, float] = {}

    def _read(self, check: WindowCheck) -> WindowCounts:
        buckets = self._keys.get(check.key)
        if not buckets:
            return WindowCounts(())
        for index in [i for i in buckets if i < check.oldest]:
            del buckets[index]
        return WindowCounts(tuple(sorted((i, n) for i, n in buckets.items() if i <= check.bucket)))

    def record(self, checks: Sequence[WindowCheck], cost: int) -> None:
        """Count hits the shared store has already let through."""
        for check in checks:
            buckets = self._keys.setdefault(check.key, {})
            buckets[check.bucket] = buckets.get(check.bucket, 0) + cost
            self._expiry[check.key] = check.expires_at

    def hit(self, checks: Sequence[WindowCheck], cost: int) -> list[WindowCounts]:
        found = self.peek(checks)
        if all(fits(check, counts, cost) for check, counts in zip(checks, found, strict=True)):
            self.record(checks, cost)
            return [WindowCounts(counts.buckets, counted=True) for counts in found]
        return found

    def peek(self, checks: Sequence[WindowCheck]) -> list[WindowCounts]:
        return [self._read(check) for check in checks]

    def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)
            self._expiry.pop(key, None)

    def prune(self, now: float) -> int:
        expired = [key for key, expiry in self._expiry.items() if expiry <= now]
        self.clear(expired)
        return len(expired)


class RateLimiter:
    def __init__(
        self,
        shared: SharedWindows,
        metrics: Metrics,
        *,
        local: LocalWindows | None = None,
        clock: Callable[[], float] = time.time,
        retry_shared: float = RETRY_SHARED,
        stall: Stall | None = None,
    ) -> None:
        self.shared = shared
        self.local = local or LocalWindows()
        self.stall = stall or Stall()
        self.metrics = metrics
        self.clock = clock
        self.retry_shared = retry_shared
        self._down = False
        self._retry_at = 0.0
        self._trying = False
        self._hits = Coalescer[Hit, list[WindowCounts]](self._hit_many, max_batch=HIT_BATCH)
        metrics.set_gauge(LOCAL_GAUGE, 0)

    @property
    def shared_available(self) -> bool:
        """False while decisions are made from this instance's counts alone."""
        return not self._down

    async def hit(self, limits: Sequence[Limit], *, cost: int = 1) -> float | None:
        """Count `cost` hits against every limit if each has room; None when
        counted, else the seconds until they would fit. This instance's own
        counts are asked first: over a limit here, no round trip is needed."""
        now = self.clock()
        checks = [limit.check(now) for limit in limits]
        wait = _wait(checks, self.local.peek(checks), cost, now)
        if wait is not None:
            return wait
        hit = (checks, cost)
        shared = await self._shared("RATE_LIMIT_HIT", lambda: self._submit(hit))
        if shared is None:
            return _wait(checks, self.local.hit(checks, cost), cost, now)
        if all(counts.counted for counts in shared):
            self.local.record(checks, cost)
            return None
        return _wait(checks, shared, cost, now) or 1.0  # refused on a race: try again soon

    async def peek(self, limits: Sequence[Limit], *, cost: int = 1) -> float | None:
        """None when `cost` more hits would fit every limit, else the seconds
        until they would."""
        now = self.clock()
        checks = [limit.check(now) for limit in limits]
        local = _wait(checks, self.local.peek(checks), cost, now)
        shared = await self._shared("RATE_LIMIT_PEEK", lambda: self.shared.peek(checks))
        found = _wait(checks, shared, cost, now) if shared is not None else None
        waits = [w for w in (local, found) if w is not None]
        return max(waits) if waits else None

    async def clear(self, limits: Sequence[Limit]) -> None:
        """Forget the counts, here and (when it answers) in the shared store."""
        keys = [limit.key for limit in limits]
        self.local.clear(keys)
        await self._shared("RATE_LIMIT_CLEAR", lambda: self.shared.clear(keys))

    async def _shared(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """The shared store's answer, or None when this decision is local."""
        if self._down:
            if not self._trying and time.monotonic() >= self._retry_at:
                self._trying = True
                detach(asyncio.ensure_future(self._try_again(operation, call)))
            self.metrics.count("local", "postgresql", operation)
            return None
        try:
            result = await self._ask(call)
        except StorageUnavailable as exc:
            self._failed(operation, exc)
            return None
        self.metrics.count("ok", "postgresql", operation)
        return result

    async def _submit(self, hit: Hit) -> list[WindowCounts]:
        """`hit` through the group commit, within the shared store's deadline
        counted from now: its wait for the calls before its own counts too. A
        hit given up before its call went out is left out of it."""
        try:
            async with asyncio.timeout(self.shared.deadline):
                return await self._hits.submit(hit)
        except TimeoutError as exc:
            name = "RATE_LIMIT_HIT"
            raise StorageTimeout(
                f"{name} ran past its deadline", store="postgresql", operation=name
            ) from exc

    async def _hit_many(self, hits: Sequence[Hit]) -> list[list[WindowCounts]]:
        return await self.shared.hit_many(hits)

    async def _ask(self, call: Callable[[], Awaitable[T]]) -> T:
        """One statement to the shared store, its answer or silence told to the `Stall`."""
        return await self.stall.watch(call())

    async def _try_again(self, operation: str, call: Callable[[], Awaitable[object]]) -> None:
        """Ask the store again, off the request: the request that brought the
        retry is decided locally rather than wait for a store that may still
        be frozen (each retry cost its request the whole deadline)."""
        try:
            await self._ask(call)
        except StorageUnavailable as exc:
            self.metrics.count("unavailable", "postgresql", operation)
            self._went_down(exc)
            return
        finally:
            self._trying = False
        self.metrics.count("ok", "postgresql", operation)
        self._down = False
        self.metrics.set_gauge(LOCAL_GAUGE, 0)
        log.info("rate_limit_store_up")

    def _failed(self, operation: str, exc: StorageUnavailable) -> None:
        self.metrics.count("unavailable", "postgresql", operation)
        self.metrics.count("local", "postgresql", operation)
        self._went_down(exc)

    def _went_down(self, exc: StorageUnavailable) -> None:
        self._retry_at = time.monotonic() + self.retry_shared
        if not self._down:
            self._down = True
            self.metrics.set_gauge(LOCAL_GAUGE, 1)
            log.warning("rate_limit_store_down", error=str(exc), local_for=self.retry_shared)

    async def prune_forever(self, interval: float = PRUNE_INTERVAL) -> None:
        while True:
            self.local.prune(self.clock())
            try:
                await self.shared.prune()
            except StorageError as exc:
                log.debug("rate_limit_prune_failed", error=str(exc))
            await asyncio.sleep(interval)

    @asynccontextmanager
    async def pruning(self, interval: float = PRUNE_INTERVAL) -> AsyncIterator[None]:
        """Remove expired buckets every `interval` seconds while the block runs."""
        task = asyncio.create_task(self.prune_forever(interval), name="rate-limit-prune")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _wait(
    checks: Sequence[WindowCheck], found: Sequence[WindowCounts], cost: int, now: float
) -> float | None:
    """None when every limit counted or has room, else the longest wait."""
    waits = [
        wait_seconds(check, counts, cost, now)
        for check, counts in zip(checks, found, strict=True)
        if not counts.counted and not fits(check, counts, cost)
    ]
    return max(waits) if waits else None


def retry_after(wait: float) -> int:
    """A `Retry-After` value: whole seconds, at least one."""
    return max(1, math.ceil(wait))
