"""An edit or delete that lost to a later version is not acknowledged (issue
12, hole 3): the request read the message, another version landed in both
stores before its write, and the write was refused by the version order.
The client gets 409 (or, for a delete that lost to another delete, the
stored tombstone), and no realtime event announces a version nobody kept."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from parley.messages.render import iso
from parley.replication.direct_messages import DirectMessages
from parley.resilience import Sourced
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.schema import PG_REPLAY_QUEUE, key
from parley.storage.records import MessageRecord
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import Person, make_dm, make_person
from tests.support import eventually

Concurrent = Callable[[MessageRecord], MessageRecord]


class Events:
    """Every message event published, beside the real delivery."""

    def __init__(self, state: AppState, monkeypatch: pytest.MonkeyPatch) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        deliver = state.events.message_event

        async def record(event_type: str, room_id: uuid.UUID, message: Any) -> None:
            self.published.append((event_type, message))
            await deliver(event_type, room_id, message)  # type: ignore[arg-type]

        monkeypatch.setattr(state.events, "message_event", record)


def land_between_read_and_write(
    state: AppState, monkeypatch: pytest.MonkeyPatch, concurrent: Concurrent
) -> list[MessageRecord]:
    """Make another writer's version (`concurrent` of what the request read)
    reach both stores right after the request reads the message; returns the
    versions written that way."""
    dms: DirectMessages = state.replication.direct_messages
    read = dms.get
    landed: list[MessageRecord] = []

    async def get_then_race(room_id: uuid.UUID, message_id: uuid.UUID) -> Sourced[Any]:
        found = await read(room_id, message_id)
        if found.value is not None and not landed:
            theirs = concurrent(found.value)
            await dms.save_version(theirs)
            landed.append(theirs)
        return found

    monkeypatch.setattr(dms, "get", get_then_race)
    return landed


def later(record: MessageRecord, **changes: Any) -> MessageRecord:
    """A version from a writer whose clock is ahead: later than any the request makes."""
    return replace(record, updated_at=record.updated_at + timedelta(seconds=5), **changes)


async def a_message(client: httpx.AsyncClient, state: AppState) -> tuple[Person, str, str]:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    url = f"/api/rooms/{room}/messages"
    sent = await client.post(url, json={"content": "first"}, headers=ada.headers)
    assert sent.status_code == 201, sent.text
    return ada, url, sent.json()["id"]


async def stored(state: AppState, url: str, message_id: str) -> list[MessageRecord]:
    room = uuid.UUID(url.split("/")[3])
    mine = uuid.UUID(message_id)
    return [(await mongo_messages(state, room))[mine], (await postgres_messages(state, room))[mine]]


async def test_an_edit_that_lost_answers_409_and_publishes_nothing(
    client: httpx.AsyncClient, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, url, message_id = await a_message(client, state)
    events = Events(state, monkeypatch)
    landed = land_between_read_and_write(state, monkeypatch, lambda r: later(r, content="theirs"))

    edit = await client.patch(f"{url}/{message_id}", json={"content": "mine"}, headers=ada.headers)

    assert edit.status_code == 409, edit.text
    assert edit.json()["error"] == "Conflict"
    assert not any(message["content"] == "mine" for _, message in events.published)
    assert await stored(state, url, message_id) == [landed[0], landed[0]]


async def test_a_delete_wins_over_an_edit_that_landed_first(
    client: httpx.AsyncClient, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delete is final (the version order): an edit with a later time that
    landed between the delete's read and its write does not make it lose."""
    ada, url, message_id = await a_message(client, state)
    events = Events(state, monkeypatch)
    land_between_read_and_write(state, monkeypatch, lambda r: later(r, content="theirs"))

    deleted = await client.delete(f"{url}/{message_id}", headers=ada.headers)

    assert deleted.status_code == 200, deleted.text
    assert [e for e, _ in events.published] == ["message.deleted"]
    assert all(record.deleted for record in await stored(state, url, message_id))


async def test_a_delete_that_lost_to_another_delete_is_idempotent(
    client: httpx.AsyncClient, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, url, message_id = await a_message(client, state)
    events = Events(state, monkeypatch)
    landed = land_between_read_and_write(state, monkeypatch, lambda r: later(r.tombstone()))

    deleted = await client.delete(f"{url}/{message_id}", headers=ada.headers)

    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["deleted"] is True
    assert body["updatedAt"] == iso(landed[0].updated_at)
    assert events.published == []  # the delete that won announces itself
    assert await stored(state, url, message_id) == [landed[0], landed[0]]


async def test_an_edit_that_won_is_acknowledged_once(
    client: httpx.AsyncClient, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, url, message_id = await a_message(client, state)
    events = Events(state, monkeypatch)

    edit = await client.patch(f"{url}/{message_id}", json={"content": "mine"}, headers=ada.headers)

    assert edit.status_code == 200, edit.text
    assert edit.headers["X-Data-Source"] == "mongodb,postgresql"
    assert [(e, m["content"]) for e, m in events.published] == [("message.updated", "mine")]
    assert [r.content for r in await stored(state, url, message_id)] == ["mine", "mine"]


async def test_a_version_that_lost_in_one_store_is_not_kept_by_the_other(
    client: httpx.AsyncClient, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The later version reached MongoDB only (its PostgreSQL write still to
    come, its marker queued): MongoDB refuses the edit, PostgreSQL takes it.
    The edit lost, so its markers must stay and replay bring PostgreSQL to
    MongoDB's version; clearing them would leave the stores apart for good."""
    ada, url, message_id = await a_message(client, state)
    events = Events(state, monkeypatch)
    dms: DirectMessages = state.replication.direct_messages
    read = dms.get
    theirs: list[MessageRecord] = []

    async def get_then_race(room_id: uuid.UUID, message_id: uuid.UUID) -> Sourced[Any]:
        found = await read(room_id, message_id)
        if found.value is not None and not theirs:
            theirs.append(later(found.value, content="theirs"))
            await state.mongo.run(
                "T", lambda db: mongo_dm.upsert_newer(db, theirs[0], pending=True)
            )
        return found

    monkeypatch.setattr(dms, "get", get_then_race)
    edit = await client.patch(f"{url}/{message_id}", json={"content": "mine"}, headers=ada.headers)

    assert edit.status_code == 409, edit.text
    assert events.published == []

    async def converged() -> bool:
        return await stored(state, url, message_id) == [theirs[0], theirs[0]]

    await eventually(converged, timeout=20)


async def test_a_late_write_that_lost_leaves_the_marker_of_the_version_that_won(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """Version V is in both stores, its confirmation still on its way; then W
    reaches MongoDB only (marked missed); then a late duplicate of V's write
    loses in MongoDB. That write marks the entry with V before it loses, and
    the confirmation of V would then drop the only marker of W: PostgreSQL
    would never get W. After the loss the entry names W again."""
    await state.replication.supervisor.stop()  # no replay: the entry is this test's to see
    _, url, message_id = await a_message(client, state)
    v = (await stored(state, url, message_id))[1]
    w = later(v, content="theirs")

    async def in_mongo(db: Any) -> bool:
        await mongo_dm.upsert_newer(db, w)
        await mongo_dm.mark_missed(db, w)
        won = await mongo_dm.upsert_newer(db, v)  # the late duplicate of V's write
        await mongo_dm.confirm(db, [v])  # V's confirmation, arriving after it
        return won

    assert await state.mongo.run("T", in_mongo) is False
    entry = await state.mongo.run("T", lambda db: db[PG_REPLAY_QUEUE].find_one({"_id": key(v.id)}))
    assert entry is not None
    assert (entry["_id"], entry["digest"]) == mongo_dm.marker_of(w)
    assert entry["missed"] is True


async def test_an_entry_confirmed_away_before_the_repoint_is_made_again(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """The other order of the race above: V's confirmation lands between the
    losing write's mark and its repoint, so the entry is gone; the repoint
    makes it again, naming W."""
    await state.replication.supervisor.stop()
    _, url, message_id = await a_message(client, state)
    v = (await stored(state, url, message_id))[1]
    w = later(v, content="theirs")

    async def in_mongo(db: Any) -> None:
        await mongo_dm.upsert_newer(db, w)
        await db[PG_REPLAY_QUEUE].update_one(
            {"_id": key(v.id)}, {"$set": {"digest": mongo_dm.marker_of(v)[1]}}
        )  # the late write's mark
        await mongo_dm.confirm(db, [v])  # V's confirmation: the entry is gone
        await mongo_dm._mark_what_is_stored(db, v)  # the late write's repoint

    await state.mongo.run("T", in_mongo)
    entry = await state.mongo.run("T", lambda db: db[PG_REPLAY_QUEUE].find_one({"_id": key(v.id)}))
    assert entry is not None
    assert (entry["_id"], entry["digest"]) == mongo_dm.marker_of(w)
    assert entry["missed"] is True
