"""`ServerClock`: MongoDB's time read with `hello` now and then, carried forward
on the monotonic clock (pure logic; the server is a stand-in answering `hello`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from parley.storage.mongo.clock import MAX_ROUND_TRIP, REFRESH_SECONDS, ServerClock

SERVER_START = datetime(2026, 1, 1, tzinfo=UTC)


class Server:
    """Answers `hello` with its own time: SERVER_START when the monotonic clock reads 100."""

    def __init__(self) -> None:
        self.monotonic = 100.0
        self.hellos = 0
        self.round_trip = 0.0
        self.skew = 0.0

    def now(self) -> datetime:
        return SERVER_START + timedelta(seconds=self.monotonic - 100.0 + self.skew)

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "hello"
        self.hellos += 1
        self.monotonic += self.round_trip / 2
        answer = {"localTime": self.now().replace(tzinfo=None)}  # naive, as PyMongo may give it
        self.monotonic += self.round_trip / 2
        return answer


async def test_reads_the_server_once_then_carries_its_time_forward() -> None:
    server = Server()
    clock = ServerClock(monotonic=lambda: server.monotonic)

    assert await clock.now(server) == server.now()  # type: ignore[arg-type]
    server.monotonic += 3.5
    assert await clock.now(server) == server.now()  # type: ignore[arg-type]
    assert server.hellos == 1


async def test_reads_the_server_again_once_its_reading_is_old() -> None:
    server = Server()
    clock = ServerClock(monotonic=lambda: server.monotonic)
    await clock.now(server)  # type: ignore[arg-type]

    server.monotonic += REFRESH_SECONDS + 0.1
    await clock.now(server)  # type: ignore[arg-type]

    assert server.hellos == 2


async def test_a_reading_counts_from_the_middle_of_its_round_trip() -> None:
    server = Server()
    server.round_trip = 0.2
    clock = ServerClock(monotonic=lambda: server.monotonic)

    estimate = await clock.now(server)  # type: ignore[arg-type]

    assert estimate == server.now()
    assert estimate.tzinfo is not None


async def test_a_slow_reading_does_not_replace_a_quick_one() -> None:
    server = Server()
    clock = ServerClock(monotonic=lambda: server.monotonic)
    await clock.now(server)  # type: ignore[arg-type]

    server.monotonic += REFRESH_SECONDS + 1
    server.skew = 0.3  # the server's clock moved on by more than time passed
    server.round_trip = MAX_ROUND_TRIP * 4  # ... but this reading is not to be trusted
    estimate = await clock.now(server)  # type: ignore[arg-type]

    assert server.hellos == 2
    assert estimate == server.now() - timedelta(seconds=0.3)  # the quick reading still counts
    server.monotonic += 1
    await clock.now(server)  # type: ignore[arg-type]
    assert server.hellos == 2  # a slow reading still counts as a check
