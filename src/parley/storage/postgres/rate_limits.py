"""Rate-limit counters in PostgreSQL (`rate_limit_windows`), shared by every
instance. The rules and the fallback are in `parley.security.ratelimit`; this
module only counts.

Every call is one statement on a small engine of its own, in autocommit, so a
call costs one round trip and never waits for (or takes) a connection the
message path needs:

    RATE_LIMIT_HIT    the hits of many requests (the limiter's group
                      commit), one after another in one call: for each, read
                      its keys' windows and, if every key still has room, add
                      the hit to each key's current bucket (INSERT ... ON
                      CONFLICT DO UPDATE, re-checked on the locked row, so
                      concurrent hits cannot overshoot). The function
                      `rate_limit_hit_batch` (migration 0007) does that per
                      hit, under advisory locks on the batch's keys taken in
                      one order, so batches sharing keys never deadlock.
    RATE_LIMIT_PEEK   read the keys' windows
    RATE_LIMIT_CLEAR  forget keys (a successful login, a password change),
                      under the same locks
    RATE_LIMIT_PRUNE  delete buckets that no longer count, in batches

Its sessions commit with `synchronous_commit = off`. All of one account's
sends (and of one address's) update the same rows, so with a synchronous
commit each hit would hold those row locks through a WAL flush and the next
hit would wait for it. A count is not worth a flush: a PostgreSQL crash can
forget the last fraction of a second of hits (`wal_writer_delay`), which lets
a few requests more through and loses or corrupts nothing (PostgreSQL's
asynchronous commit).

The engine's `statement_timeout` is the limiter's deadline, so a statement the
app gave up on stops on the server too. Driver errors become Parley's storage
errors here (`translate_errors`), so the limiter reacts to those only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from parley.settings import Settings, driver_backstop
from parley.storage.deadline import within_deadline
from parley.storage.operations import OperationObserver, Operations
from parley.storage.postgres.errors import translate_errors
from parley.storage.rate_windows import Hit, WindowCheck, WindowCounts

# Connections of the limiter's own pool: one statement of well under a
# millisecond each, so a few serve thousands of checks a second. No overflow
# (see `PostgresDatabase.from_settings`).
POOL_SIZE = 8
PRUNE_BATCH = 5000
_PING = text("SELECT 1")

_INPUT = """
input AS (
    SELECT * FROM unnest(
        CAST(:keys AS text[]), CAST(:buckets AS bigint[]), CAST(:spans AS int[]),
        CAST(:amounts AS int[]), CAST(:expires AS timestamptz[])
    ) WITH ORDINALITY AS t(key, bucket, span, amount, expires_at, ord)
),
seen AS (
    SELECT i.ord, i.key, i.bucket, i.amount, i.expires_at,
           coalesce(array_agg(w.window_index ORDER BY w.window_index)
                    FILTER (WHERE w.window_index IS NOT NULL), '{}') AS indexes,
           coalesce(array_agg(w.hits ORDER BY w.window_index)
                    FILTER (WHERE w.window_index IS NOT NULL), '{}') AS hits,
           coalesce(sum(w.hits), 0) AS total,
           coalesce(sum(w.hits) FILTER (WHERE w.window_index = i.bucket), 0) AS current
    FROM input i
    LEFT JOIN rate_limit_windows w
      ON w.key = i.key AND w.window_index > i.bucket - i.span AND w.window_index <= i.bucket
    GROUP BY i.ord, i.key, i.bucket, i.amount, i.expires_at
)"""

# Many requests' hits, counted one after another in one call: the function
# (migration 0007) runs, per hit, the statement one hit used to be.
_HIT_BATCH = text(
    """
SELECT r_ord, r_indexes, r_hits, r_counted FROM rate_limit_hit_batch(
    CAST(:hits AS int[]), CAST(:keys AS text[]), CAST(:buckets AS bigint[]),
    CAST(:spans AS int[]), CAST(:amounts AS int[]), CAST(:expires AS timestamptz[]),
    CAST(:costs AS int[])
) ORDER BY r_ord
"""
)

# `_INPUT` is a constant of this module: nothing from a request is in the text.
_PEEK = text(
    f"""
WITH {_INPUT}
SELECT s.indexes, s.hits, false AS counted FROM seen s ORDER BY s.ord
"""  # noqa: S608
)

_CLEAR = text("SELECT rate_limit_clear(CAST(:keys AS text[]))")

_PRUNE = text(
    """
DELETE FROM rate_limit_windows WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM rate_limit_windows WHERE expires_at < now() LIMIT :batch
))
"""
)


_COLUMNS = ("keys", "buckets", "spans", "amounts", "expires")


def _parameters(checks: Sequence[WindowCheck]) -> dict[str, Any]:
    if len({check.key for check in checks}) != len(checks):
        raise ValueError("each key may be checked once per call")
    return {
        "keys": [c.key for c in checks],
        "buckets": [c.bucket for c in checks],
        "spans": [c.span for c in checks],
        "amounts": [c.amount for c in checks],
        "expires": [datetime.fromtimestamp(c.expires_at, UTC) for c in checks],
    }


class PostgresRateWindows:
    def __init__(
        self, engine: AsyncEngine, deadline: float, observer: OperationObserver | None = None
    ) -> None:
        self.engine = engine
        self.deadline = deadline
        self.operations = Operations("postgresql", observer)

    @classmethod
    def from_settings(
        cls, settings: Settings, observer: OperationObserver | None = None
    ) -> PostgresRateWindows:
        deadline = settings.rate_limit_deadline
        engine = create_async_engine(
            settings.sqlalchemy_url.get_secret_value(),
            pool_size=POOL_SIZE,
            max_overflow=0,
            pool_timeout=deadline,
            pool_recycle=1800,
            isolation_level="AUTOCOMMIT",
            # Autocommit: nothing to roll back when a connection is returned,
            # so no extra round trip per check.
            pool_reset_on_return=None,
            connect_args={
                "timeout": settings.connect_timeout,
                "command_timeout": driver_backstop(deadline, floor=1.0),
                "server_settings": {
                    "application_name": "parley-rate-limits",
                    "statement_timeout": str(max(int(deadline * 1000), 1)),
                    # See the module docstring: a count need not wait for the disk.
                    "synchronous_commit": "off",
                },
            },
        )
        return cls(engine, deadline, observer)

    async def _execute(self, name: str, statement: Any, parameters: dict[str, Any]) -> Any:
        async def execute() -> Any:
            async with self.engine.connect() as conn:
                result = await conn.execute(statement, parameters)
                return result.all() if result.returns_rows else result.rowcount

        with self.operations.timed(name), translate_errors(name):
            # Left to the statement_timeout, as `PostgresDatabase.run` is.
            return await within_deadline(execute(), self.deadline, backstop=self.deadline)

    async def hit_many(self, hits: Sequence[Hit]) -> list[list[WindowCounts]]:
        """RATE_LIMIT_HIT: for each hit in order, count its cost against every
        one of its keys, or against none if any key lacks room; each sees the
        hits before it. Per hit, its keys' counts before it was counted."""
        rows = await self._execute("RATE_LIMIT_HIT", _HIT_BATCH, _batch_parameters(hits))
        counts = [_counts(row[1:]) for row in rows]
        found, start = [], 0
        for checks, _ in hits:
            found.append(counts[start : start + len(checks)])
            start += len(checks)
        return found

    async def peek(self, checks: Sequence[WindowCheck]) -> list[WindowCounts]:
        """RATE_LIMIT_PEEK: the keys' windows, counting nothing."""
        rows = await self._execute("RATE_LIMIT_PEEK", _PEEK, _parameters(checks))
        return [_counts(row) for row in rows]

    async def clear(self, keys: Sequence[str]) -> None:
        """RATE_LIMIT_CLEAR: forget every bucket of these keys."""
        await self._execute("RATE_LIMIT_CLEAR", _CLEAR, {"keys": list(keys)})

    async def prune(self) -> int:
        """RATE_LIMIT_PRUNE: delete buckets past their expiry; returns how many."""
        deleted = 0
        while True:
            n = int(await self._execute("RATE_LIMIT_PRUNE", _PRUNE, {"batch": PRUNE_BATCH}))
            deleted += n
            if n < PRUNE_BATCH:
                return deleted

    async def fill_pool(self) -> None:
        """Open every connection of the pool (the app's start-up warm-up):
        concurrent pings each check one out. Errors are the breaker's business."""
        pings = [self._execute("RATE_LIMIT_PING", _PING, {}) for _ in range(POOL_SIZE)]
        await asyncio.gather(*pings, return_exceptions=True)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _batch_parameters(hits: Sequence[Hit]) -> dict[str, Any]:
    """`_parameters` of every hit's checks, one after another, with each
    element's hit number and cost."""
    flat = [_parameters(checks) for checks, _ in hits]
    merged: dict[str, Any] = {name: [v for one in flat for v in one[name]] for name in _COLUMNS}
    merged["hits"] = [n for n, (checks, _) in enumerate(hits) for _ in checks]
    merged["costs"] = [cost for checks, cost in hits for _ in checks]
    return merged


def _counts(row: Any) -> WindowCounts:
    indexes, hits, counted = row
    return WindowCounts(tuple(zip(indexes, hits, strict=True)), bool(counted))
