"""Store-neutral shapes of rate-limit counting, shared by the PostgreSQL store
(`storage/postgres/rate_limits.py`) and the in-process fallback
(`security/ratelimit.py`), so both answer the same question the same way.

A limit of `amount` hits per `seconds` is counted in `span` buckets of
`seconds / span` each: a hit is added to the bucket of its moment, and the
hits that count are those in the `span` most recent buckets (the current one
included). Every counted hit is then less than `seconds` old, and a hit stops
counting at most `seconds` after it was made. Nothing here knows a rule, a
request or a setting; the rules are in `parley.security`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowCheck:
    """One limit to check for one key, at one moment."""

    key: str
    bucket: int  # index of the current bucket: floor(now / bucket_seconds)
    span: int  # buckets in the window
    amount: int  # hits allowed in the window
    bucket_seconds: float

    @property
    def oldest(self) -> int:
        """The oldest bucket that still counts."""
        return self.bucket - self.span + 1

    def drops_out(self, index: int) -> float:
        """Epoch seconds at which bucket `index` stops counting."""
        return (index + self.span) * self.bucket_seconds

    @property
    def expires_at(self) -> float:
        """When the current bucket stops counting (and may be deleted)."""
        return self.drops_out(self.bucket)


@dataclass(frozen=True)
class WindowCounts:
    """What a key's window held before this call (oldest bucket first), and
    whether this call's hit was counted."""

    buckets: tuple[tuple[int, int], ...]  # (bucket index, hits)
    counted: bool = False

    @property
    def total(self) -> int:
        return sum(hits for _, hits in self.buckets)


# One request's checks and the hits it costs.
Hit = tuple[Sequence[WindowCheck], int]
