"""Background work that makes way for live traffic.

`RecentLatency` follows how long one store's user calls have taken lately;
`rest_for_duty` is how long background work rests after a burst so that it
works at most a given share of the time. The verifier rests by it after every
step; replay rests by it only while user calls are slow (`ReplayWorker`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Each user call moves the mean this far towards its own duration: at tens of
# calls a second, the mean follows a change within a fraction of a second.
WEIGHT = 0.1
# With no user call for this long there is no live traffic to make way for.
HORIZON = 1.0


class RecentLatency:
    """An exponentially weighted mean of recent call durations, in seconds;
    0 once no call has finished for `horizon` seconds."""

    def __init__(
        self,
        *,
        weight: float = WEIGHT,
        horizon: float = HORIZON,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.weight = weight
        self.horizon = horizon
        self.clock = clock
        self._mean = 0.0
        self._last: float | None = None

    def record(self, seconds: float) -> None:
        now = self.clock()
        if self._last is None or now - self._last > self.horizon:
            self._mean = seconds  # a fresh start: old traffic says nothing now
        else:
            self._mean += self.weight * (seconds - self._mean)
        self._last = now

    @property
    def seconds(self) -> float:
        if self._last is None or self.clock() - self._last > self.horizon:
            return 0.0
        return self._mean


def rest_for_duty(took: float, *, duty: float, longest: float) -> float:
    """Seconds to rest after `took` seconds of work so that the work takes at
    most `duty` (0 < duty <= 1) of the time; never more than `longest`."""
    return min(longest, took * (1 - duty) / duty)
