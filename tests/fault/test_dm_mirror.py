"""PostgreSQL down: DMs still work on an instance that has never seen the
conversation, because participants and author names come from the MongoDB
mirror; and `parley migrate` backfills that mirror for existing data."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import insert

from parley.app import create_app
from parley.auth.tokens import issue_token
from parley.cli.migrate import run_migrations
from parley.devstack import DevStack
from parley.ids import new_id
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo.schema import CONVERSATIONS, PROFILES, key
from parley.storage.postgres.models import Conversation, Profile
from tests.dm_support import markers_left
from tests.factories import make_dm, make_person
from tests.support import eventually

pytestmark = pytest.mark.fault


async def test_fresh_instance_serves_dms_from_the_mirror_while_postgres_is_down(
    state: AppState, migrated: Settings, stack: DevStack
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)

    async def mirrored() -> bool:
        return await markers_left(state) == (0, 0)

    await eventually(mirrored, timeout=20)
    stack.postgres.process.kill()

    fresh = create_app(migrated)  # empty caches: everything must come from MongoDB
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            url = f"/api/rooms/{room}/messages"
            sent = await client.post(url, json={"content": "pg is down"}, headers=ada.headers)
            assert sent.status_code == 201, sent.text
            assert sent.headers["X-Data-Source"] == "mongodb"
            assert sent.json()["author"]["name"] == "Ada"
            page = await client.get(url, headers=bob.headers)
            assert page.status_code == 200
            assert [m["content"] for m in page.json()["items"]] == ["pg is down"]
            eve = token_for_unknown_profile(migrated)
            outsider = await client.get(url, headers={"Authorization": f"Bearer {eve}"})
            assert outsider.status_code == 404
            servers = await client.get("/api/servers", headers=ada.headers)
            assert servers.status_code == 503
    stack.postgres.process.start()


def token_for_unknown_profile(settings: Settings) -> str:
    """A valid token for a profile no database knows (tokens need no database)."""
    return issue_token(new_id(), settings.jwt_secret.get_secret_value(), 60)


async def test_migrate_backfills_the_mirror_for_existing_data(
    state: AppState, migrated: Settings
) -> None:
    """Rows written before the mirror existed (no queue rows) are mirrored by migrate."""
    one, two, conversation = new_id(), new_id(), new_id()
    async with state.postgres.sessionmaker.begin() as session:
        for profile_id, name in ((one, "Old One"), (two, "Old Two")):
            await session.execute(
                insert(Profile).values(
                    id=profile_id, email=f"{profile_id}@x.example", name=name, password_hash="h"
                )
            )
        low, high = sorted((one, two))
        await session.execute(
            insert(Conversation).values(id=conversation, profile_one_id=low, profile_two_id=high)
        )
    assert await state.mongo.db[PROFILES].find_one({"_id": key(one)}) is None
    await run_migrations(migrated)
    profile = await state.mongo.db[PROFILES].find_one({"_id": key(one)})
    assert profile is not None and profile["name"] == "Old One"
    mirrored = await state.mongo.db[CONVERSATIONS].find_one({"_id": key(conversation)})
    assert mirrored is not None and mirrored["profileIds"] == [key(p) for p in sorted((one, two))]


async def test_a_slow_postgres_is_awaited_when_the_mirror_lacks_the_answer(
    state: AppState, stack: DevStack
) -> None:
    """Seen in CI: a send right after sign-up rendered its author as "Unknown
    user". PostgreSQL took 156 ms, the hedge to MongoDB's mirror (which replay
    had not brought the new profile to yet) answered first, and won."""
    await state.replication.supervisor.stop()  # no replay: the mirror lacks Ada
    ada = await make_person(state, "Ada")
    assert await state.mongo.db[PROFILES].count_documents({"_id": key(ada.id)}) == 0
    directory = state.replication.directory
    stack.postgres.process.freeze()  # slow: it answers once thawed
    try:
        lookup = asyncio.ensure_future(directory.authors({ada.id}))
        await asyncio.sleep(0.2)  # the hedge to the mirror has answered by now
        assert not lookup.done()
    finally:
        stack.postgres.process.thaw()
    authors = await lookup
    assert authors[ada.id].name == "Ada"
