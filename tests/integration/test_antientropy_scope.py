"""`parley repair` and `parley verify` against real servers: an interrupted
repair resumes where it stopped (its cursor in `antientropy_state`) and a
finished one starts afresh; `verify` keeps no cursor; `--since` only
considers messages changed since that time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from parley.cli.repair import CHECKPOINT, run_repair
from parley.cli.verify import run_verify
from parley.replication.divergence import MISSING_IN_MONGODB
from parley.replication.verify import Verifier
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo.schema import DIRECT_MESSAGES
from tests.antientropy_support import ALL, parley, postgres_sql, send, settled
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import make_dm, make_person


class Interrupted(Exception):
    """Stands for Ctrl-C or a crash in the middle of a walk."""


class Progress:
    """An `on_progress` that records how many conversations the walk says it
    has checked, and interrupts it after `stop_after` batches."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.done: list[int] = []
        self.stop_after = stop_after

    def __call__(self, done: int, total: int) -> None:
        self.done.append(done)
        if len(self.done) == self.stop_after:
            raise Interrupted


async def saved_walk(state: AppState) -> tuple[uuid.UUID | None, int] | None:
    """The repair walk's saved (cursor, checked), None when it has no row."""
    async with state.postgres.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT cursor, checked FROM antientropy_state WHERE name = :name"),
                {"name": CHECKPOINT},
            )
        ).first()
    return None if row is None else (row.cursor, row.checked)


def _one_per_batch(*args: Any, **kwargs: Any) -> Verifier:
    return Verifier(*args, **{**kwargs, "batch": 1})


@pytest.fixture
def one_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's walks check one conversation per batch, so three
    conversations make three batches (and three saved positions)."""
    monkeypatch.setattr("parley.replication.runtime.Verifier", _one_per_batch)


@pytest.fixture
def no_settle(migrated: Settings) -> Settings:
    """The CLI's settings with no settle time (the tests wait for the queues)."""
    return migrated.model_copy(update={"antientropy_settle": 0.0})


async def three_tampered_rooms(
    client: httpx.AsyncClient, state: AppState
) -> list[tuple[uuid.UUID, str]]:
    """Three conversations in walk order (id order), each with one message
    deleted from MongoDB behind the app's back: (room, that message's id)."""
    ada, bob, cy = [await make_person(state, name) for name in ("Ada", "Bob", "Cy")]
    rooms = sorted([await make_dm(state, ada, bob), await make_dm(state, ada, cy),
                    await make_dm(state, bob, cy)])  # fmt: skip
    tampered = []
    for room in rooms:
        sender = bob if room == rooms[2] else ada
        tampered.append((room, (await send(client, sender, room, 3))[1]))
    await settled(state)
    for _, message_id in tampered:
        await state.mongo.db[DIRECT_MESSAGES].delete_one({"_id": message_id})
    return tampered


async def test_interrupted_repair_resumes_and_a_finished_one_starts_afresh(
    client: httpx.AsyncClient, state: AppState, no_settle: Settings, one_per_batch: None
) -> None:
    tampered = await three_tampered_rooms(client, state)

    first = Progress(stop_after=1)
    with pytest.raises(Interrupted):
        await run_repair(no_settle, ALL, dry_run=False, on_progress=first)
    assert first.done == [1]
    assert await saved_walk(state) == (tampered[0][0], 1)  # stopped after the first room

    second = Progress()
    resumed = await run_repair(no_settle, ALL, dry_run=False, on_progress=second)
    assert resumed.finished
    assert second.done == [2, 3]  # it went on from the second room, not from the start
    assert resumed.conversations == 2
    assert {(d.conversation_id, str(d.id)) for d in resumed.items} == set(tampered[1:])
    assert all(d.kind == MISSING_IN_MONGODB for d in resumed.items)
    assert await saved_walk(state) == (None, 0)  # finished: the next walk starts afresh

    await settled(state)  # the first room's fix, queued before the interruption
    for room, _ in tampered:
        assert await mongo_messages(state, room) == await postgres_messages(state, room)
    third = Progress()
    fresh = await run_repair(no_settle, ALL, dry_run=False, on_progress=third)
    assert fresh.finished and fresh.divergent == 0
    assert third.done == [1, 2, 3]
    assert fresh.conversations == 3


async def test_verify_keeps_no_cursor_an_interrupted_one_checks_everything_again(
    client: httpx.AsyncClient, state: AppState, no_settle: Settings, one_per_batch: None
) -> None:
    """`verify` is read-only and its exit status speaks for the whole scope,
    so it never resumes a partial walk: it starts from the beginning."""
    tampered = await three_tampered_rooms(client, state)

    with pytest.raises(Interrupted):
        await run_verify(no_settle, ALL, Progress(stop_after=2))
    assert await saved_walk(state) is None

    progress = Progress()
    report = await run_verify(no_settle, ALL, progress)
    assert progress.done == [1, 2, 3]
    assert {(d.conversation_id, str(d.id)) for d in report.items} == set(tampered)


async def test_since_considers_only_messages_changed_since(
    client: httpx.AsyncClient, state: AppState, migrated: Settings
) -> None:
    """An old and a new message tampered with (the old one edited in
    PostgreSQL, present in both stores, so each store's own `--since` filter
    counts): `--since` between them reports and repairs only the new one;
    without it both are found."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    old, new = await send(client, ada, room, 2)
    await settled(state)
    long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    await postgres_sql(
        state,
        "UPDATE direct_messages SET created_at = :at, updated_at = :at WHERE id = :id",
        at=long_ago,
        id=uuid.UUID(old),
    )
    collection = state.mongo.db[DIRECT_MESSAGES]
    await collection.update_one(
        {"_id": old}, {"$set": {"createdAt": long_ago, "updatedAt": long_ago}}
    )
    await postgres_sql(
        state,
        "UPDATE direct_messages SET content = 'edited in pg' WHERE id = :id",
        id=uuid.UUID(old),
    )
    await collection.delete_one({"_id": new})
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")

    everything = parley("verify", "--json")
    assert everything.returncode == 1, everything.stderr
    assert {d["id"] for d in json.loads(everything.stdout)["divergences"]} == {old, new}

    recent = parley("verify", "--since", since, "--json")
    assert recent.returncode == 1, recent.stderr
    assert [d["id"] for d in json.loads(recent.stdout)["divergences"]] == [new]

    repaired = parley("repair", "--since", since, "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert [d["id"] for d in json.loads(repaired.stdout)["divergences"]] == [new]
    assert parley("verify", "--since", since).returncode == 0
    left = parley("verify", "--json")  # the old message was outside the scope: left as it was
    assert [d["id"] for d in json.loads(left.stdout)["divergences"]] == [old]
