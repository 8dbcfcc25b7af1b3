"""The message API's entry point: the caller's access (one policy for every
room), then the caller's rate limits for sends, and for edits and deletes
(`parley.security.throttle`), then the path for the room's kind: DMs on two
stores (`dms.py`), channel and group messages in PostgreSQL (`rooms.py`).

`MessageLoader` is what realtime delivery uses to load a message it must push
to other instances' subscribers (who were authorised when they subscribed).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial
from typing import Any

from parley.cursors import ChangeCursor, Now
from parley.messages import changes, dms, rooms, rules
from parley.messages.render import Reply
from parley.messages.schemas import MessageCreate
from parley.realtime.events import RoomEvents
from parley.replication.runtime import Replication
from parley.rooms.access import RoomAccessPolicy
from parley.rooms.repository import select_room
from parley.rooms.room import RoomAccess
from parley.security.throttle import ClientThrottle
from parley.storage.records import ChangeQuery, PageQuery, now_ms


class MessageService:
    def __init__(
        self,
        replication: Replication,
        access: RoomAccessPolicy,
        events: RoomEvents,
        throttle: ClientThrottle,
        *,
        changes_overlap: float = 5.0,
    ) -> None:
        self.access = access
        self.throttle = throttle
        self.overlap = timedelta(seconds=changes_overlap)
        self.dms = dms.DirectMessagePath(replication, events)
        self.rooms = rooms.RoomMessagePath(replication.postgres, events)

    async def _access(self, room_id: uuid.UUID, profile_id: uuid.UUID) -> RoomAccess:
        access = await self.access.require(room_id, profile_id)
        rules.check_room_takes_messages(access)
        return access

    async def list(self, profile_id: uuid.UUID, query: PageQuery) -> Reply:
        access = await self._access(query.room_id, profile_id)
        if access.kind == "dm":
            return await self.dms.list(query)
        return await self.rooms.list(access, query)

    async def changes(
        self, profile_id: uuid.UUID, room_id: uuid.UUID, since: ChangeCursor | None, limit: int
    ) -> Reply:
        """The room's change feed after `since` (rules in `messages/changes.py`)."""
        access = await self._access(room_id, profile_id)
        if isinstance(since, Now):
            return Reply(changes.from_now(now_ms()))
        run = changes.start(since, self.overlap, now_ms())
        query = ChangeQuery(room_id, limit, run.after)
        if access.kind == "dm":
            return await self.dms.changes(query, run, self.overlap)
        return await self.rooms.changes(access, query, run, self.overlap)

    async def post(self, profile_id: uuid.UUID, room_id: uuid.UUID, body: MessageCreate) -> Reply:
        access = await self._access(room_id, profile_id)
        await self.throttle.before_send(profile_id)
        path = self.dms if access.kind == "dm" else self.rooms
        return await path.post(access, body)

    async def edit(
        self, profile_id: uuid.UUID, room_id: uuid.UUID, message_id: uuid.UUID, content: str
    ) -> Reply:
        access = await self._access(room_id, profile_id)
        await self.throttle.before_edit(profile_id)
        path = self.dms if access.kind == "dm" else self.rooms
        return await path.edit(access, message_id, content)

    async def delete(
        self, profile_id: uuid.UUID, room_id: uuid.UUID, message_id: uuid.UUID
    ) -> Reply:
        access = await self._access(room_id, profile_id)
        await self.throttle.before_edit(profile_id)
        path = self.dms if access.kind == "dm" else self.rooms
        return await path.delete(access, message_id)


class MessageLoader:
    """A message's JSON by id, without a caller (realtime's `MessageSource`)."""

    def __init__(self, replication: Replication) -> None:
        self.replication = replication

    async def load(self, room_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        if await self.replication.directory.dm_participants(room_id) is not None:
            return await dms.load(self.replication, room_id, message_id)
        postgres = self.replication.postgres
        room = await postgres.run("ROOM_KIND", partial(select_room, room_id=room_id))
        return await rooms.load(postgres, room, message_id) if room else None
