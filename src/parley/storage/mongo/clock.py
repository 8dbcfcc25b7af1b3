"""MongoDB's clock, as this process reads it without asking every time.

Queue entries carry `markedAt` on the server's clock, because replay compares
it with the server's now (`claim_pending`): the writer's and the replayer's
clocks never meet. A write could take that time from the server
(`$currentDate`), but only in an update: an upsert per entry, which costs a
MongoDB-wire server a lookup before each insert (FerretDB v1: six times an
insert's time). So the writer reads the server's clock with `hello` once every
REFRESH_SECONDS and carries it forward on its own monotonic clock, which no
NTP step moves. What it estimates is off by at most half the round trip of the
reading it keeps (a slow one does not replace a quick one: MAX_ROUND_TRIP) plus
the drift since: milliseconds, against replay's grace of 5 s and the 0.5 s
after which an unconfirmed entry counts as a miss (an entry marked a little
early counts a little early: one more merged read, nothing lost).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from parley.storage.mongo.database import MongoDocument

REFRESH_SECONDS = 10.0
# A reading whose `hello` took longer than this (a busy server, or this
# process's event loop running late) does not replace one that was quicker.
MAX_ROUND_TRIP = 0.05


class ServerClock:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._read: tuple[datetime, float] | None = None  # server time, monotonic then
        self._checked = -math.inf

    async def now(self, db: AsyncDatabase[MongoDocument]) -> datetime:
        """The server's time now, read afresh when the last reading is too old."""
        if self._read is None or self._monotonic() - self._checked > REFRESH_SECONDS:
            await self._read_from(db)
        assert self._read is not None
        server, at = self._read
        return server + timedelta(seconds=self._monotonic() - at)

    async def _read_from(self, db: AsyncDatabase[MongoDocument]) -> None:
        sent = self._monotonic()
        server = await server_time(db)
        self._checked = received = self._monotonic()
        if self._read is None or received - sent <= MAX_ROUND_TRIP:
            self._read = (server, (sent + received) / 2)


async def server_time(db: AsyncDatabase[MongoDocument]) -> datetime:
    """The MongoDB server's clock (`hello.localTime`), as an aware UTC datetime."""
    hello = await db.command("hello")
    local: datetime = hello["localTime"]
    return local if local.tzinfo else local.replace(tzinfo=UTC)
