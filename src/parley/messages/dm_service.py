"""DM rules on top of the resilience layer's `DirectMessages`.

Authorisation has already happened (the caller is a participant). Events are
published after the write is acknowledged by at least one store.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from parley.errors import Forbidden, NotFound
from parley.ids import new_id
from parley.messages.render import AuthorView, message_json
from parley.messages.results import Reply, page_body
from parley.messages.schemas import MessageCreate
from parley.realtime.events import MessageEventType, RoomEvents
from parley.resilience.directory import Author
from parley.resilience.runtime import Resilience
from parley.storage.deadline import detach
from parley.storage.records import MessageRecord, PageQuery, now_ms


class DirectMessageService:
    def __init__(self, resilience: Resilience, events: RoomEvents) -> None:
        self.dms = resilience.direct_messages
        self.directory = resilience.directory
        self.events = events

    async def _render(self, records: list[MessageRecord]) -> list[dict[str, Any]]:
        authors = await self.directory.authors({r.author_id for r in records})
        return [message_json(r, _view(authors.get(r.author_id))) for r in records]

    async def list(self, query: PageQuery) -> Reply:
        found = await self.dms.page(query)
        items = await self._render(found.value[: query.limit + 1])
        return Reply(page_body(items, found.value, query.limit), data_source=found.source)

    async def post(self, room_id: uuid.UUID, author_id: uuid.UUID, body: MessageCreate) -> Reply:
        message_id, now = new_id(), now_ms()
        record = MessageRecord(
            id=message_id,
            room_id=room_id,
            author_id=author_id,
            content=body.content,
            file_url=body.file_url,
            deleted=False,
            nonce=body.nonce or str(message_id),
            created_at=now,
            updated_at=now,
        )
        # The author is the caller (also of the original, on a nonce retry), so
        # the lookup runs alongside the write instead of after it.
        author = asyncio.ensure_future(self.directory.authors({author_id}))
        try:
            written = await self.dms.send(record, client_nonce=body.nonce is not None)
        except BaseException:
            detach(author)
            raise
        payload = message_json(written.record, _view((await author).get(author_id)))
        if written.created:
            await self.events.message_event("message.created", room_id, payload)
        return Reply(payload, 201 if written.created else 200, ",".join(written.stores))

    async def edit(
        self, room_id: uuid.UUID, message_id: uuid.UUID, caller: uuid.UUID, content: str
    ) -> Reply:
        current = await self._existing(room_id, message_id)
        if current.author_id != caller:
            raise Forbidden("Only the author can edit this message.")
        return await self._save(current.edited(content), "message.updated")

    async def delete(self, room_id: uuid.UUID, message_id: uuid.UUID, caller: uuid.UUID) -> Reply:
        current = await self._existing(room_id, message_id)
        if current.author_id != caller:
            raise Forbidden("Only the author can delete this message.")
        return await self._save(current.tombstone(), "message.deleted")

    async def load(self, room_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        found = await self.dms.get(room_id, message_id)
        if found.value is None:
            return None
        [payload] = await self._render([found.value])
        return payload

    async def _existing(self, room_id: uuid.UUID, message_id: uuid.UUID) -> MessageRecord:
        found = await self.dms.get(room_id, message_id)
        if found.value is None or found.value.deleted:
            raise NotFound("No such message in this room.")
        return found.value

    async def _save(self, version: MessageRecord, event: MessageEventType) -> Reply:
        stores = await self.dms.save_version(version)
        [payload] = await self._render([version])
        await self.events.message_event(event, version.room_id, payload)
        return Reply(payload, 200, ",".join(stores))


def _view(author: Author | None) -> AuthorView | None:
    return AuthorView(author.id, author.name, author.image_url) if author else None
