"""The message API's rules: who may read and post where, and which room kind
goes to which store. DMs go through `DirectMessageService` (two stores);
channel and group messages through `RoomMessageService` (PostgreSQL)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from parley.errors import NotFound, ValidationFailed
from parley.messages.access import resolve_access
from parley.messages.dm_service import DirectMessageService
from parley.messages.results import Reply
from parley.messages.room_repository import room_kind
from parley.messages.room_service import RoomMessageService
from parley.messages.schemas import MessageCreate
from parley.realtime.events import room_events
from parley.rooms.access import RoomAccess
from parley.state import AppState
from parley.storage.records import PageQuery


class MessageService:
    def __init__(self, state: AppState) -> None:
        events = room_events(state)
        self.resilience = state.resilience
        self.dms = DirectMessageService(state.resilience, events)
        self.rooms = RoomMessageService(state.resilience.postgres, events)

    async def _access(self, room_id: uuid.UUID, profile_id: uuid.UUID) -> RoomAccess:
        access = await resolve_access(self.resilience, room_id, profile_id)
        if access is None:
            raise NotFound("No such room.")
        if access.kind == "channel" and access.channel_type != "TEXT":
            raise ValidationFailed("Messages exist only in TEXT channels.", code="NotATextChannel")
        return access

    async def list(self, profile_id: uuid.UUID, query: PageQuery) -> Reply:
        access = await self._access(query.room_id, profile_id)
        if access.kind == "dm":
            return await self.dms.list(query)
        return await self.rooms.list(access, query)

    async def post(self, profile_id: uuid.UUID, room_id: uuid.UUID, body: MessageCreate) -> Reply:
        access = await self._access(room_id, profile_id)
        if access.kind == "dm":
            return await self.dms.post(room_id, profile_id, body)
        return await self.rooms.post(access, body)

    async def edit(
        self, profile_id: uuid.UUID, room_id: uuid.UUID, message_id: uuid.UUID, content: str
    ) -> Reply:
        access = await self._access(room_id, profile_id)
        if access.kind == "dm":
            return await self.dms.edit(room_id, message_id, profile_id, content)
        return await self.rooms.edit(access, message_id, content)

    async def delete(
        self, profile_id: uuid.UUID, room_id: uuid.UUID, message_id: uuid.UUID
    ) -> Reply:
        access = await self._access(room_id, profile_id)
        if access.kind == "dm":
            return await self.dms.delete(room_id, message_id, profile_id)
        return await self.rooms.delete(access, message_id)


async def load_message(
    state: AppState, room_id: uuid.UUID, message_id: uuid.UUID
) -> dict[str, Any] | None:
    """A message's JSON for realtime delivery, without a caller (subscribers
    were authorised when they subscribed)."""
    service = MessageService(state)
    if await state.resilience.directory.dm_participants(room_id) is not None:
        return await service.dms.load(room_id, message_id)
    access = await state.resilience.postgres.run("ROOM_KIND", partial(room_kind, room_id=room_id))
    return await service.rooms.load(access, message_id) if access else None
