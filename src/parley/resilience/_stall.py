"""`Stall`: whether a store has gone quiet, known from the first missed deadline.

A store is *stalled* when a call to it ran past its deadline and nothing has
come back from the store since that call was sent. One answer ends it.

The breaker needs several slow calls before it opens, each waiting out the
whole deadline; by then every write has also waited its straggler grace for
the frozen store (`sync_to_both_databases`). A stall is the earlier, cheaper
signal: a write does not wait grace for a stalled store, so a request pays
for a freeze at most once (seen with PostgreSQL frozen: a send waited out the
rate limiter's deadline, then the write grace, on the same frozen server).

It never refuses a call and never moves the breaker: a store that is merely
busy answers other calls in the meantime, and the stall ends at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from parley.storage.errors import StorageConflict, StorageTimeout

T = TypeVar("T")


class Stall:
    """Shared by everything that calls one store (its guards, the rate limiter)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_answer = -math.inf
        self._stalled = False

    @property
    def stalled(self) -> bool:
        return self._stalled

    def now(self) -> float:
        """The clock a caller notes when it sends a call (for `missed_deadline`)."""
        return self._clock()

    def answered(self) -> None:
        """A call came back from the store (a result, or an error the store sent)."""
        self._last_answer = self._clock()
        self._stalled = False

    def missed_deadline(self, sent: float) -> None:
        """A call sent at `sent` (from `now`) ran past its deadline."""
        if self._last_answer <= sent:
            self._stalled = True

    async def watch(self, call: Awaitable[T]) -> T:
        """Await one call to the store, telling this stall how it came back:
        a result or a refusal (a conflict) is an answer; a timeout is a missed
        deadline; anything else (down, cancelled, a bug) says neither."""
        sent = self.now()
        try:
            result = await call
        except StorageTimeout:
            self.missed_deadline(sent)
            raise
        except StorageConflict:
            self.answered()
            raise
        self.answered()
        return result
