from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from parley.cli.migrate import run_migrations
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.mongo.schema import CONVERSATIONS, DIRECT_MESSAGES, INDEXES, PROFILES, key
from tests.factories import make_dm, make_person
from tests.support import eventually


async def _schema_fingerprint(state: AppState) -> tuple[object, ...]:
    async with state.postgres.engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' ORDER BY 1, 2"
                )
            )
        ).all()
        indexes = (
            await conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname='public' ORDER BY 1")
            )
        ).all()
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    mongo_indexes = {}
    for name in INDEXES:
        info = await state.mongo.db[name].index_information()
        mongo_indexes[name] = sorted(info)
    return (tuple(columns), tuple(indexes), tuple(version), tuple(sorted(mongo_indexes.items())))


async def test_migrate_twice_changes_nothing(state: AppState, migrated: Settings) -> None:
    before = await _schema_fingerprint(state)
    await run_migrations(migrated)
    await run_migrations(migrated)
    assert await _schema_fingerprint(state) == before


async def test_migrate_creates_expected_tables_and_indexes(state: AppState) -> None:
    columns, indexes, version, mongo = await _schema_fingerprint(state)
    tables = {row[0] for row in columns}
    assert {
        "profiles", "servers", "members", "channels", "conversations", "group_conversations",
        "group_conversation_members", "messages", "group_messages", "direct_messages",
        "mongo_replay_queue", "antientropy_state", "rate_limit_windows",
    } <= tables  # fmt: skip
    index_names = {row[0] for row in indexes}
    assert "ix_direct_messages_conversation_id_id" in index_names
    assert "uq_profiles_email_lower" in index_names
    assert version == (("0007",),)
    for table, room in (
        ("messages", "channel_id"),
        ("group_messages", "group_id"),
        ("direct_messages", "conversation_id"),
    ):
        assert f"ix_{table}_{room}_updated_at_id" in index_names
    assert "conversation_newest" in dict(mongo)["direct_messages"]
    assert "conversation_author_nonce" in dict(mongo)["direct_messages"]
    assert "conversation_changes" in dict(mongo)["direct_messages"]


async def test_migrate_converts_ids_stored_as_bson_uuids(
    state: AppState, migrated: Settings, client: httpx.AsyncClient
) -> None:
    """Documents written before ids were stored as text are converted, once,
    and the DM reads the same afterwards."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    sent = await client.post(
        f"/api/rooms/{dm}/messages", json={"content": "before"}, headers=ada.headers
    )
    assert sent.status_code == 201
    await eventually(lambda: _mirrored(state, dm))
    db = state.mongo.db
    for name in (DIRECT_MESSAGES, CONVERSATIONS, PROFILES):  # back to the old shape
        async for doc in db[name].find({}):
            await db[name].delete_one({"_id": doc["_id"]})
            await db[name].insert_one(_with_uuids(doc))
    assert await db[DIRECT_MESSAGES].count_documents({"_id": {"$type": "binData"}}) == 1

    await run_migrations(migrated)
    await run_migrations(migrated)

    for name in (DIRECT_MESSAGES, CONVERSATIONS, PROFILES):
        assert await db[name].count_documents({"_id": {"$type": "binData"}}) == 0
    assert await db[DIRECT_MESSAGES].count_documents({"conversationId": key(dm)}) == 1
    assert await mongo_dm.get(db, uuid.UUID(sent.json()["id"])) is not None
    conversation = await db[CONVERSATIONS].find_one({"_id": key(dm)})
    assert conversation is not None
    assert conversation["profileIds"] == [key(p) for p in sorted((ada.id, bob.id))]


async def _mirrored(state: AppState, dm: uuid.UUID) -> bool:
    return await state.mongo.db[CONVERSATIONS].count_documents({"_id": key(dm)}) == 1


def _with_uuids(doc: dict[str, Any]) -> dict[str, Any]:
    def as_uuid(value: Any) -> Any:
        if isinstance(value, list):
            return [as_uuid(item) for item in value]
        return uuid.UUID(value) if isinstance(value, str) else value

    fields = ("_id", "conversationId", "authorId", "profileIds")
    return {name: as_uuid(value) if name in fields else value for name, value in doc.items()}
