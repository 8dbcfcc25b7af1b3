"""Who may read and post in a room, with DMs still answerable while PostgreSQL
is down (through the MongoDB mirror of conversation participants)."""

from __future__ import annotations

import uuid
from functools import partial

from parley.resilience.runtime import Resilience
from parley.rooms.access import RoomAccess, find_room_access
from parley.storage.errors import StorageUnavailable


def _dm_access(
    room_id: uuid.UUID, profile_id: uuid.UUID, pair: tuple[uuid.UUID, uuid.UUID]
) -> RoomAccess | None:
    if profile_id not in pair:
        return None
    return RoomAccess("dm", room_id, profile_id, participant_ids=pair)


async def resolve_access(
    resilience: Resilience, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    """The caller's access to the room, or None (the caller answers 404)."""
    directory = resilience.directory
    pair = directory.cached_participants(room_id)
    if pair is not None:
        return _dm_access(room_id, profile_id, pair)
    try:
        access = await resilience.postgres.run(
            "ROOM_ACCESS", partial(find_room_access, room_id=room_id, profile_id=profile_id)
        )
    except StorageUnavailable:
        pair = await directory.dm_participants(room_id)
        if pair is None:
            raise  # not a DM we know of, and PostgreSQL cannot say what it is
        return _dm_access(room_id, profile_id, pair)
    if access is not None and access.kind == "dm":
        first, second = access.participant_ids
        directory.remember(room_id, (first, second))
    return access
