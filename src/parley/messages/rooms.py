"""The channel and group path: PostgreSQL only, one short transaction per
operation (no DM-style fallback; while PostgreSQL is down they answer 503).
Events go out after the transaction has committed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.messages import changes, rules
from parley.messages.render import Reply, created_or_found, message_json, page_body
from parley.messages.schemas import MessageCreate
from parley.realtime.events import MessageEventType, RoomEvents
from parley.resilience import StoreGuard
from parley.rooms.room import Room, RoomAccess
from parley.storage.postgres import messages as pg_messages
from parley.storage.records import ChangeQuery, MessageRecord, PageQuery

Change = Callable[[MessageRecord], MessageRecord]


def _table(room: Room) -> pg_messages.MessageTable:
    if room.kind == "channel":
        return pg_messages.CHANNEL_MESSAGES
    return pg_messages.GROUP_MESSAGES


def _name(action: str, room: Room) -> str:
    return f"ROOM_MESSAGES_{action}_{room.kind.upper()}"


async def render(
    session: AsyncSession, room: Room, records: list[MessageRecord]
) -> list[dict[str, Any]]:
    authors = await pg_messages.authors(session, (r.author_id for r in records), room.server_id)
    channel = room.kind == "channel"
    return [message_json(r, authors.get(r.author_id), channel=channel) for r in records]


async def load(
    postgres: StoreGuard[Any], room: Room, message_id: uuid.UUID
) -> dict[str, Any] | None:
    async def read(session: AsyncSession) -> dict[str, Any] | None:
        found = await pg_messages.get(session, _table(room), room.id, message_id)
        return (await render(session, room, [found]))[0] if found else None

    return await postgres.run("ROOM_MESSAGE_LOAD", read)


class RoomMessagePath:
    def __init__(self, postgres: StoreGuard[Any], events: RoomEvents) -> None:
        self.postgres = postgres
        self.events = events

    async def list(self, access: RoomAccess, query: PageQuery) -> Reply:
        room = access.room

        async def read(session: AsyncSession) -> dict[str, Any]:
            records = await pg_messages.page(session, _table(room), query)
            return page_body(await render(session, room, records), records, query.limit)

        return Reply(await self.postgres.run(_name("GET", room), read))

    async def changes(
        self, access: RoomAccess, query: ChangeQuery, run: changes.Pass, overlap: timedelta
    ) -> Reply:
        room = access.room

        async def read(session: AsyncSession) -> dict[str, Any]:
            records = await pg_messages.changes(session, _table(room), query)
            items = await render(session, room, records[: query.limit])
            return changes.feed_body(items, records, query, run, overlap)

        return Reply(await self.postgres.run(_name("CHANGES", room), read))

    async def post(self, access: RoomAccess, body: MessageCreate) -> Reply:
        room, record = access.room, rules.new_message(access, body)
        extra = {"member_id": access.member_id} if room.kind == "channel" else {}

        async def write(session: AsyncSession) -> tuple[bool, dict[str, Any]]:
            table = _table(room)
            created = await pg_messages.insert_new(session, table, record, extra)
            stored = record if created else await pg_messages.get_by_nonce(
                session, table, record.room_id, record.author_id, record.nonce
            )  # fmt: skip
            assert stored is not None
            [payload] = await render(session, room, [stored])
            return created, payload

        created, payload = await self.postgres.run(_name("POST", room), write)
        if created:
            await self.events.message_event("message.created", room.id, payload)
        return created_or_found(payload, created)

    async def edit(self, access: RoomAccess, message_id: uuid.UUID, content: str) -> Reply:
        def change(current: MessageRecord) -> MessageRecord:
            return rules.edited(access, current, content)

        return await self._change(access.room, message_id, change, "message.updated")

    async def delete(self, access: RoomAccess, message_id: uuid.UUID) -> Reply:
        def change(current: MessageRecord) -> MessageRecord:
            return rules.deleted(access, current)

        return await self._change(access.room, message_id, change, "message.deleted")

    async def _change(
        self, room: Room, message_id: uuid.UUID, change: Change, event: MessageEventType
    ) -> Reply:
        async def write(session: AsyncSession) -> dict[str, Any]:
            table = _table(room)
            current = rules.existing(await pg_messages.get(session, table, room.id, message_id))
            version = change(current)
            await pg_messages.save_version(session, table, version)
            return (await render(session, room, [version]))[0]

        payload = await self.postgres.run(_name("PATCH", room), write)
        await self.events.message_event(event, room.id, payload)
        return Reply(payload)
