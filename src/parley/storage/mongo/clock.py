"""MongoDB's clock, as this process reads it without asking every time.

Queue entries carry `markedAt` on the server's clock, because replay compares
it with the server's now (`claim_pending`): the writer's and the replayer's
clocks never meet. A write could take that time from the server
(`$currentDate`), but only in an update: an upsert per entry, which costs a
MongoDB-wire server a lookup before each insert (FerretDB v1: six times an
insert's time). So the writer reads the server's clock with `hello` once every
REFRESH_SECONDS and carries it forward on its own monotonic clock, which no
NTP step moves. What it estimates is off by at most half the `hello`'s round
trip plus the drift since: milliseconds, against a replay grace of seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from parley.storage.mongo.database import MongoDocument

REFRESH_SECONDS = 10.0


class ServerClock:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._read: tuple[datetime, float] | None = None  # server time, monotonic then

    async def now(self, db: AsyncDatabase[MongoDocument]) -> datetime:
        """The server's time now, read afresh when the last reading is too old."""
        read = self._read
        if read is None or self._monotonic() - read[1] > REFRESH_SECONDS:
            read = await self._read_from(db)
        server, at = read
        return server + timedelta(seconds=self._monotonic() - at)

    async def _read_from(self, db: AsyncDatabase[MongoDocument]) -> tuple[datetime, float]:
        sent = self._monotonic()
        server = await server_time(db)
        self._read = (server, (sent + self._monotonic()) / 2)
        return self._read


async def server_time(db: AsyncDatabase[MongoDocument]) -> datetime:
    """The MongoDB server's clock (`hello.localTime`), as an aware UTC datetime."""
    hello = await db.command("hello")
    local: datetime = hello["localTime"]
    return local if local.tzinfo else local.replace(tzinfo=UTC)
