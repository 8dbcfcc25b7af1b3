from __future__ import annotations

from sqlalchemy import text

from parley.cli.migrate import run_migrations
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo.schema import INDEXES


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
        "mongo_replay_queue",
    } <= tables  # fmt: skip
    index_names = {row[0] for row in indexes}
    assert "ix_direct_messages_conversation_id_id" in index_names
    assert "uq_profiles_email_lower" in index_names
    assert version == (("0002",),)
    assert "conversation_newest" in dict(mongo)["direct_messages"]
    assert "conversation_author_nonce" in dict(mongo)["direct_messages"]
