"""Channel and group messages: PostgreSQL only, one short transaction per
operation (no DM-style fallback; while PostgreSQL is down they answer 503).
Events go out after the transaction has committed."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Forbidden, NotFound
from parley.ids import new_id
from parley.messages.render import message_json
from parley.messages.results import Reply, page_body
from parley.messages.room_repository import author_views
from parley.messages.schemas import MessageCreate
from parley.realtime.events import MessageEventType, RoomEvents
from parley.resilience.guard import StoreGuard
from parley.rooms.access import RoomAccess
from parley.storage.postgres import messages as pg_messages
from parley.storage.records import MessageRecord, PageQuery, now_ms


def _table(access: RoomAccess) -> pg_messages.MessageTable:
    if access.kind == "channel":
        return pg_messages.CHANNEL_MESSAGES
    return pg_messages.GROUP_MESSAGES


class RoomMessageService:
    def __init__(self, postgres: StoreGuard[Any], events: RoomEvents) -> None:
        self.postgres = postgres
        self.events = events

    async def _render(
        self, session: AsyncSession, access: RoomAccess, records: list[MessageRecord]
    ) -> list[dict[str, Any]]:
        views = await author_views(session, (r.author_id for r in records), access.server_id)
        channel = access.kind == "channel"
        return [message_json(r, views.get(r.author_id), channel=channel) for r in records]

    async def list(self, access: RoomAccess, query: PageQuery) -> Reply:
        async def read(session: AsyncSession) -> dict[str, Any]:
            records = await pg_messages.page(session, _table(access), query)
            return page_body(await self._render(session, access, records), records, query.limit)

        return Reply(await self.postgres.run(f"ROOM_MESSAGES_GET_{access.kind.upper()}", read))

    async def post(self, access: RoomAccess, body: MessageCreate) -> Reply:
        message_id, now = new_id(), now_ms()
        record = MessageRecord(
            message_id, access.room_id, access.profile_id, body.content, body.file_url, False,
            body.nonce or str(message_id), now, now,
        )  # fmt: skip
        extra = {"member_id": access.member_id} if access.kind == "channel" else {}

        async def write(session: AsyncSession) -> tuple[bool, dict[str, Any]]:
            table = _table(access)
            created = await pg_messages.insert_new(session, table, record, extra)
            stored = record if created else await pg_messages.get_by_nonce(
                session, table, record.room_id, record.author_id, record.nonce
            )  # fmt: skip
            assert stored is not None
            [payload] = await self._render(session, access, [stored])
            return created, payload

        name = f"ROOM_MESSAGES_POST_{access.kind.upper()}"
        created, payload = await self.postgres.run(name, write)
        if created:
            await self.events.message_event("message.created", access.room_id, payload)
        return Reply(payload, 201 if created else 200)

    async def edit(self, access: RoomAccess, message_id: uuid.UUID, content: str) -> Reply:
        def change(current: MessageRecord) -> MessageRecord:
            if current.author_id != access.profile_id:
                raise Forbidden("Only the author can edit this message.")
            return current.edited(content)

        return await self._change(access, message_id, change, "message.updated")

    async def delete(self, access: RoomAccess, message_id: uuid.UUID) -> Reply:
        def change(current: MessageRecord) -> MessageRecord:
            if current.author_id != access.profile_id and not access.can_moderate:
                raise Forbidden("You may not delete this message.")
            return current.tombstone()

        return await self._change(access, message_id, change, "message.deleted")

    async def load(self, access: RoomAccess, message_id: uuid.UUID) -> dict[str, Any] | None:
        async def read(session: AsyncSession) -> dict[str, Any] | None:
            found = await pg_messages.get(session, _table(access), access.room_id, message_id)
            return (await self._render(session, access, [found]))[0] if found else None

        return await self.postgres.run("ROOM_MESSAGE_LOAD", read)

    async def _change(
        self, access: RoomAccess, message_id: uuid.UUID, change: Any, event: MessageEventType
    ) -> Reply:
        async def write(session: AsyncSession) -> dict[str, Any]:
            table = _table(access)
            current = await pg_messages.get(session, table, access.room_id, message_id)
            if current is None or current.deleted:
                raise NotFound("No such message in this room.")
            version = change(current)
            await pg_messages.save_version(session, table, version)
            return (await self._render(session, access, [version]))[0]

        payload = await self.postgres.run(f"ROOM_MESSAGES_PATCH_{access.kind.upper()}", write)
        await self.events.message_event(event, access.room_id, payload)
        return Reply(payload)
