"""The room-access policy's three answers, and the one way callers map them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from parley.errors import NotFound
from parley.rooms.access import Allowed, NotVisible, RoomAccessPolicy, Unknown
from parley.rooms.room import Room, RoomAccess
from parley.storage.errors import StorageUnavailable

ADA, BOB, EVE = (uuid.uuid4() for _ in range(3))
ROOM = uuid.uuid4()


class Postgres:
    """Answers the access lookup with `access`, or fails as unavailable."""

    def __init__(
        self, access: RoomAccess | None = None, *, down: bool = False, delay: float = 0.0
    ) -> None:
        self.access, self.down, self.delay, self.calls = access, down, delay, 0

    async def run(self, name: str, fn: Any) -> RoomAccess | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.down:
            raise StorageUnavailable("down", store="postgresql", operation=name)
        return self.access


class Mirror:
    """The DM participant directory: a cache and MongoDB's mirror."""

    def __init__(self, pair: tuple[uuid.UUID, uuid.UUID] | None = None, *, down: bool = False):
        self.pair, self.down = pair, down
        self.cached: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = {}

    def cached_participants(self, room_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID] | None:
        return self.cached.get(room_id)

    def remember(self, room_id: uuid.UUID, pair: tuple[uuid.UUID, uuid.UUID]) -> None:
        self.cached[room_id] = pair

    async def mirrored_participants(self, room_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID] | None:
        return None if self.down else self.pair

    async def dm_participants(self, room_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID] | None:
        if self.down:
            raise StorageUnavailable("down", store="mongodb", operation="DM_PARTICIPANTS")
        return self.pair


def policy(
    postgres: Postgres, mirror: Mirror, hedge_after: float | None = None
) -> RoomAccessPolicy:
    return RoomAccessPolicy(postgres, mirror, hedge_after)  # type: ignore[arg-type]


def dm_access(profile: uuid.UUID) -> RoomAccess:
    return RoomAccess(Room("dm", ROOM, participant_ids=(ADA, BOB)), profile)


async def test_postgres_allows_with_kind_and_role() -> None:
    channel = RoomAccess(Room("channel", ROOM, channel_type="TEXT"), ADA, role="MODERATOR")
    answer = await policy(Postgres(channel), Mirror()).check(ROOM, ADA)
    assert answer == Allowed(channel)
    assert isinstance(answer, Allowed) and answer.access.can_moderate


async def test_postgres_says_not_visible() -> None:
    assert await policy(Postgres(None), Mirror()).check(ROOM, EVE) == NotVisible()


async def test_a_dm_is_remembered_and_answered_without_postgres_next_time() -> None:
    postgres, mirror = Postgres(dm_access(ADA)), Mirror()
    rules = policy(postgres, mirror)
    assert await rules.check(ROOM, ADA) == Allowed(dm_access(ADA))
    assert await rules.check(ROOM, BOB) == Allowed(dm_access(BOB))
    assert await rules.check(ROOM, EVE) == NotVisible()
    assert postgres.calls == 1


async def test_postgres_down_dm_answered_from_the_mirror() -> None:
    rules = policy(Postgres(down=True), Mirror((ADA, BOB)))
    assert await rules.check(ROOM, BOB) == Allowed(dm_access(BOB))
    assert await rules.check(ROOM, EVE) == NotVisible()


async def test_postgres_down_and_room_unknown_to_the_mirror_is_unknown() -> None:
    # It may be a channel or a group: nobody can say "not visible" now.
    answer = await policy(Postgres(down=True), Mirror(None)).check(ROOM, ADA)
    assert isinstance(answer, Unknown)


async def test_both_stores_down_is_unknown() -> None:
    answer = await policy(Postgres(down=True), Mirror(down=True)).check(ROOM, ADA)
    assert isinstance(answer, Unknown)


async def test_require_maps_each_answer_one_way() -> None:
    assert await policy(Postgres(dm_access(ADA)), Mirror()).require(ROOM, ADA) == dm_access(ADA)
    with pytest.raises(NotFound):
        await policy(Postgres(None), Mirror()).require(ROOM, ADA)
    with pytest.raises(StorageUnavailable):
        await policy(Postgres(down=True), Mirror(None)).require(ROOM, ADA)


async def test_a_slow_postgres_is_hedged_by_the_mirror_for_a_dm() -> None:
    """A frozen PostgreSQL costs a DM request the hedge delay, not its deadline."""
    slow = Postgres(dm_access(ADA), delay=5.0)
    started = time.monotonic()
    answer = await policy(slow, Mirror((ADA, BOB)), hedge_after=0.01).check(ROOM, ADA)
    assert answer == Allowed(dm_access(ADA))
    assert time.monotonic() - started < 1.0


async def test_a_slow_postgres_is_awaited_for_a_room_the_mirror_does_not_know() -> None:
    channel = RoomAccess(Room("channel", ROOM, channel_type="TEXT"), ADA, role="MEMBER")
    slow = Postgres(channel, delay=0.05)
    answer = await policy(slow, Mirror(None), hedge_after=0.01).check(ROOM, ADA)
    assert answer == Allowed(channel)
