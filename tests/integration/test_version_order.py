"""Versions of a DM have one total order that both stores' conditional writes
apply (issue 12, hole 2): two different versions with the same `updatedAt`,
written to the two stores in opposite orders, end as the same version in both,
and a delete wins over every edit, even a later one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.schema import PG_REPLAY_QUEUE, key
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.records import MessageRecord, newest
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import make_dm, make_person

Versions = Callable[[MessageRecord], tuple[MessageRecord, MessageRecord]]


def two_edits(base: MessageRecord) -> tuple[MessageRecord, MessageRecord]:
    at = base.updated_at + timedelta(seconds=1)
    return replace(base, content="apple", updated_at=at), replace(
        base, content="pear", updated_at=at
    )


def edit_and_delete(base: MessageRecord) -> tuple[MessageRecord, MessageRecord]:
    at = base.updated_at + timedelta(seconds=1)
    edit = replace(base, content="zzz edited last", updated_at=at)
    return edit, replace(base.tombstone(), updated_at=at)


def delete_and_later_edit(base: MessageRecord) -> tuple[MessageRecord, MessageRecord]:
    """An edit that read the message before a concurrent delete landed: later
    in time, and still it must lose (the chaos checker found it winning)."""
    deleted = replace(base.tombstone(), updated_at=base.updated_at + timedelta(seconds=1))
    return deleted, replace(base, content="edited", updated_at=deleted.updated_at + timedelta(1))


def edit_and_file(base: MessageRecord) -> tuple[MessageRecord, MessageRecord]:
    """Equal in everything but the file URL (only a write outside the app makes these)."""
    at = base.updated_at + timedelta(seconds=1)
    return replace(base, updated_at=at), replace(
        base, file_url="https://f.example/a", updated_at=at
    )


async def one_message(client: httpx.AsyncClient, state: AppState) -> MessageRecord:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    sent = await client.post(
        f"/api/rooms/{room}/messages",
        json={"content": "hello", "fileUrl": "https://f.example/b"},
        headers=ada.headers,
    )
    assert sent.status_code == 201, sent.text
    [record] = (await postgres_messages(state, room)).values()
    return record


@pytest.mark.parametrize(
    "versions", [two_edits, edit_and_delete, edit_and_file, delete_and_later_edit]
)
@pytest.mark.parametrize("write", ["request", "replay"])
async def test_versions_in_opposite_orders_converge(
    client: httpx.AsyncClient, state: AppState, versions: Versions, write: str
) -> None:
    base = await one_message(client, state)
    first, second = versions(base)
    assert first != second
    if write == "request":
        mongo_write: Any = lambda r: state.mongo.run(  # noqa: E731
            "T", partial(mongo_dm.upsert_newer, record=r, pending=False)
        )
        postgres_write: Any = lambda r: state.postgres.run(  # noqa: E731
            "T", partial(pg_dm.upsert_newer, record=r)
        )
    else:
        mongo_write = lambda r: state.mongo.run(  # noqa: E731
            "T", partial(mongo_dm.upsert_many_newer, records=[r])
        )
        postgres_write = lambda r: state.postgres.run(  # noqa: E731
            "T", partial(pg_dm.upsert_many_newer, records=[r])
        )
    for record in (first, second):
        await mongo_write(record)
    for record in (second, first):
        await postgres_write(record)

    mongo = (await mongo_messages(state, base.room_id))[base.id]
    postgres = (await postgres_messages(state, base.room_id))[base.id]
    assert mongo == postgres
    assert mongo == newest(first, second) == newest(second, first)
    if first.deleted or second.deleted:
        assert mongo.deleted, "an edit undid a delete"


async def test_a_delete_wins_over_an_edit_at_equal_time(
    client: httpx.AsyncClient, state: AppState
) -> None:
    base = await one_message(client, state)
    edit, delete = edit_and_delete(base)
    assert newest(edit, delete) is delete and newest(delete, edit) is delete
    # The delete first, then the edit: the edit must not undo it in either store.
    await state.mongo.run("T", partial(mongo_dm.upsert_newer, record=delete, pending=False))
    await state.postgres.run("T", partial(pg_dm.upsert_newer, record=delete))
    kept = await state.mongo.run("T", partial(mongo_dm.upsert_newer, record=edit, pending=False))
    queue_row = await state.postgres.run("T", partial(pg_dm.upsert_newer, record=edit))
    assert kept is False and queue_row is None
    for stored in (
        await mongo_messages(state, base.room_id),
        await postgres_messages(state, base.room_id),
    ):
        assert stored[base.id].deleted


async def test_confirming_one_version_keeps_the_marker_of_another_at_equal_time(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """Both stores took `first`; `second` (same millisecond, wins) then reached
    MongoDB, whose marker now says PostgreSQL may lack it. Confirming `first`
    must not clear that marker: it is the only record that PostgreSQL has to
    receive `second` if this process dies before writing it there."""
    base = await one_message(client, state)
    first, second = two_edits(base)
    await state.mongo.run("T", partial(mongo_dm.upsert_newer, record=first))
    await state.mongo.run("T", partial(mongo_dm.upsert_newer, record=second))
    await state.mongo.run("T", partial(mongo_dm.confirm, versions=[first]))
    entry = await state.mongo.db[PG_REPLAY_QUEUE].find_one({"_id": key(base.id)})
    assert entry is not None, "the marker of the winning version was cleared"
    await state.mongo.run("T", partial(mongo_dm.confirm, versions=[second]))
    assert await state.mongo.db[PG_REPLAY_QUEUE].find_one({"_id": key(base.id)}) is None
