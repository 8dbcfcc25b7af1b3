"""May this profile use this room? One policy, one typed answer, for every
caller: the message API, realtime subscriptions and their re-checks, and
anything later that acts on a room.

    Allowed(access)   the room's kind, the caller's membership and role
    NotVisible()      no such room, or the caller is not in it (callers: 404)
    Unknown(reason)   the stores that could answer are unavailable (callers: 503,
                      or "try again" on a WebSocket)

PostgreSQL answers for every room. While it is unavailable, DMs are still
answered from MongoDB's mirror of conversation participants (participants of a
DM never change, so a cached or mirrored pair is as good as PostgreSQL's); a
room the mirror does not know may be a channel or group, so it is Unknown.
When PostgreSQL has not answered within `hedge_after`, the mirror is asked
too, and a DM it knows is answered from it at once: a freeze costs a DM
request the hedge delay, not PostgreSQL's deadline (every request in the
first half second of a PostgreSQL freeze waited out 0.5 s before this).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from parley.errors import NotFound
from parley.replication.directory import Directory
from parley.resilience import StoreGuard
from parley.rooms.repository import select_room_access
from parley.rooms.room import Room, RoomAccess
from parley.storage.deadline import detach
from parley.storage.errors import StorageUnavailable


@dataclass(frozen=True)
class Allowed:
    access: RoomAccess


@dataclass(frozen=True)
class NotVisible:
    pass


@dataclass(frozen=True)
class Unknown:
    reason: str


RoomAnswer = Allowed | NotVisible | Unknown


class RoomAccessPolicy:
    def __init__(
        self, postgres: StoreGuard[Any], participants: Directory, hedge_after: float | None = None
    ) -> None:
        self.postgres = postgres
        self.participants = participants
        self.hedge_after = hedge_after

    async def check(
        self, room_id: uuid.UUID, profile_id: uuid.UUID, operation: str = "ROOM_ACCESS"
    ) -> RoomAnswer:
        pair = self.participants.cached_participants(room_id)
        if pair is not None:
            return _dm_answer(room_id, profile_id, pair)
        lookup = asyncio.ensure_future(
            self.postgres.run(
                operation, partial(select_room_access, room_id=room_id, profile_id=profile_id)
            )
        )
        try:
            done, _ = await asyncio.wait({lookup}, timeout=self.hedge_after)
            if not done:
                pair = await self.participants.mirrored_participants(room_id)
                if pair is not None:
                    detach(lookup)  # its outcome still tells the breaker about PostgreSQL
                    return _dm_answer(room_id, profile_id, pair)
            access = await lookup
        except asyncio.CancelledError:
            lookup.cancel()
            raise
        except StorageUnavailable as exc:
            return await self._from_mirror(room_id, profile_id, exc)
        if access is None:
            return NotVisible()
        if access.kind == "dm":
            first, second = access.room.participant_ids
            self.participants.remember(room_id, (first, second))
        return Allowed(access)

    async def require(self, room_id: uuid.UUID, profile_id: uuid.UUID) -> RoomAccess:
        """The caller's access, or the error every HTTP caller answers with."""
        match await self.check(room_id, profile_id):
            case Allowed(access):
                return access
            case NotVisible():
                raise NotFound("No such room.")
            case Unknown(reason):
                raise StorageUnavailable(reason, store="postgresql", operation="ROOM_ACCESS")

    async def _from_mirror(
        self, room_id: uuid.UUID, profile_id: uuid.UUID, error: StorageUnavailable
    ) -> RoomAnswer:
        try:
            pair = await self.participants.dm_participants(room_id)
        except StorageUnavailable:
            pair = None
        if pair is None:
            return Unknown(str(error))
        return _dm_answer(room_id, profile_id, pair)


def _dm_answer(
    room_id: uuid.UUID, profile_id: uuid.UUID, pair: tuple[uuid.UUID, uuid.UUID]
) -> RoomAnswer:
    if profile_id not in pair:
        return NotVisible()
    return Allowed(RoomAccess(Room("dm", room_id, participant_ids=pair), profile_id))
