"""The DM path: messages on two stores through `parley.replication`.

The caller's access was checked by `MessageService`. Events are published once
the write is acknowledged by at least one store, and only for a version that
won: an edit or delete superseded by a later version answers 409 and
publishes nothing (`_save`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from parley.errors import Conflict
from parley.messages import changes, rules
from parley.messages.render import Reply, created_or_found, message_json, page_body
from parley.messages.schemas import MessageCreate
from parley.realtime.events import MessageEventType, RoomEvents
from parley.replication.direct_messages import Saved
from parley.replication.runtime import Replication
from parley.rooms.room import RoomAccess
from parley.storage.deadline import detach
from parley.storage.records import ChangeQuery, MessageRecord, PageQuery


async def render(replication: Replication, records: list[MessageRecord]) -> list[dict[str, Any]]:
    authors = await replication.directory.authors({r.author_id for r in records})
    return [message_json(r, authors.get(r.author_id)) for r in records]


async def load(
    replication: Replication, room_id: uuid.UUID, message_id: uuid.UUID
) -> dict[str, Any] | None:
    found = await replication.direct_messages.get(room_id, message_id)
    if found.value is None:
        return None
    [payload] = await render(replication, [found.value])
    return payload


class DirectMessagePath:
    def __init__(self, replication: Replication, events: RoomEvents) -> None:
        self.replication = replication
        self.dms = replication.direct_messages
        self.events = events

    async def list(self, query: PageQuery) -> Reply:
        found = await self.dms.page(query)
        items = await render(self.replication, found.value[: query.limit + 1])
        return Reply(page_body(items, found.value, query.limit), data_source=found.source)

    async def changes(self, query: ChangeQuery, run: changes.Pass, overlap: timedelta) -> Reply:
        found = await self.dms.changes(query)
        items = await render(self.replication, found.value[: query.limit])
        body = changes.feed_body(items, found.value, query, run, overlap)
        return Reply(body, data_source=found.source)

    async def post(self, access: RoomAccess, body: MessageCreate) -> Reply:
        record = rules.new_message(access, body)
        if body.retry and body.nonce is not None:
            # The first attempt may be in one store only; a store that cannot
            # be asked could hold it, so a retry is answered only once both
            # stores have said whether it landed (else 503: retry later).
            original = await self.dms.find_sent(record)
            if original is not None:
                return await self._found(access, original)
        # The author is the caller (also of the original, on a nonce retry), so
        # the lookup runs alongside the write instead of after it.
        lookup = {access.profile_id}
        author = asyncio.ensure_future(self.replication.directory.authors(lookup))
        try:
            written = await self.dms.send(record, client_nonce=body.nonce is not None)
        except BaseException:
            detach(author)
            raise
        payload = message_json(written.record, (await author).get(access.profile_id))
        if written.created:
            await self.events.message_event("message.created", access.room_id, payload)
        return created_or_found(payload, written.created, ",".join(written.stores))

    async def _found(self, access: RoomAccess, original: MessageRecord) -> Reply:
        authors = await self.replication.directory.authors({access.profile_id})
        payload = message_json(original, authors.get(access.profile_id))
        return created_or_found(payload, False, "mongodb,postgresql")

    async def edit(self, access: RoomAccess, message_id: uuid.UUID, content: str) -> Reply:
        current = await self._existing(access.room_id, message_id)
        return await self._save(rules.edited(access, current, content), "message.updated")

    async def delete(self, access: RoomAccess, message_id: uuid.UUID) -> Reply:
        current = await self._existing(access.room_id, message_id)
        return await self._save(rules.deleted(access, current), "message.deleted")

    async def _existing(self, room_id: uuid.UUID, message_id: uuid.UUID) -> MessageRecord:
        return rules.existing((await self.dms.get(room_id, message_id)).value)

    async def _save(self, version: MessageRecord, event: MessageEventType) -> Reply:
        saved = await self.dms.save_version(version)
        [payload] = await render(self.replication, [_answer(version, saved)])
        if saved.won:
            await self.events.message_event(event, version.room_id, payload)
        return Reply(payload, 200, ",".join(saved.stores))


def _answer(version: MessageRecord, saved: Saved) -> MessageRecord:
    """What an edit or delete answers: the version, when it won (and only then
    is it announced); the stored version when it is the same as ours (an
    identical concurrent request stored it) or when ours was a delete that lost
    to another delete (the message is deleted, as asked). A version that lost to
    a later one is not acknowledged: 409, and the client loads the message again."""
    if saved.won:
        return version
    stored = saved.record
    if stored is not None and (not saved.lost or (version.deleted and stored.deleted)):
        return stored
    raise Conflict("This message changed after you loaded it; load it again and retry.")
