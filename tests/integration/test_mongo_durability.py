"""MongoDB's durability settings are explicit (issue 12, hole 1): writes carry
the configured write concern (default `majority`, journaled), reads go to the
primary, and replay reads its source documents with read concern `majority`."""

from __future__ import annotations

import pytest
from pymongo import ReadPreference

from parley.settings import Settings, load_settings
from parley.state import AppState
from parley.storage.mongo.database import MongoDatabase, durable
from parley.storage.mongo.schema import DIRECT_MESSAGES, PG_REPLAY_QUEUE


async def test_the_app_writes_with_majority_journaled(state: AppState) -> None:
    for name in (DIRECT_MESSAGES, PG_REPLAY_QUEUE):
        collection = state.mongo.db[name]
        assert collection.write_concern.document == {"w": "majority", "j": True}
        assert collection.read_preference == ReadPreference.PRIMARY
    assert durable(state.mongo.db[DIRECT_MESSAGES]).read_concern.level == "majority"
    # The server accepts the concern (FerretDB v1 accepts and ignores it).
    await state.mongo.db[PG_REPLAY_QUEUE].insert_one({"_id": "probe"})
    await state.mongo.db[PG_REPLAY_QUEUE].delete_one({"_id": "probe"})


async def test_write_concern_is_configurable(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_MONGO_WRITE_CONCERN", "1")
    monkeypatch.setenv("PARLEY_MONGO_JOURNAL", "false")
    mongo = MongoDatabase.from_settings(load_settings())
    try:
        assert mongo.db[DIRECT_MESSAGES].write_concern.document == {"w": 1, "j": False}
    finally:
        await mongo.close()
