"""Deadlines reach the servers: PostgreSQL gets a `statement_timeout` per
transaction, MongoDB a `maxTimeMS` on every command, so a call the app gave up
on stops where it runs (docs/OPERATIONS.md, "Deadlines on the server")."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import pytest
from bson import Binary
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import ExecutionTimeout
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ids import new_id
from parley.settings import Settings
from parley.storage.errors import StorageTimeout
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.errors import translate_errors
from tests.support import eventually


async def _statement_timeout(session: AsyncSession) -> str:
    return str((await session.execute(text("SHOW statement_timeout"))).scalar_one())


async def test_each_postgres_transaction_carries_its_deadline(migrated: Settings) -> None:
    postgres = PostgresDatabase.from_settings(migrated)
    try:
        assert await postgres.run("T", _statement_timeout, deadline=0.3) == "300ms"
        assert await postgres.run("T", _statement_timeout, deadline=7) == "7s"
        async with postgres.unit_of_work() as session:  # outside `run`: the default
            assert await _statement_timeout(session) == "2s"
    finally:
        await postgres.dispose()


def _one_connection(settings: Settings) -> tuple[PostgresDatabase, list[str]]:
    """A database on a single pooled connection, and the SETs sent on it."""
    postgres = PostgresDatabase.from_settings(settings.model_copy(update={"pg_pool_size": 1}))
    sets: list[str] = []

    def executing(_: Any, __: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SET statement_timeout"):
            sets.append(statement)

    event.listen(postgres.engine.sync_engine, "before_cursor_execute", executing)
    return postgres, sets


async def test_transactions_with_the_same_deadline_set_it_once(migrated: Settings) -> None:
    postgres, sets = _one_connection(migrated)
    try:
        for _ in range(5):
            assert await postgres.run("T", _statement_timeout, deadline=0.3) == "300ms"
        assert sets == ["SET statement_timeout = 300"]
        async with postgres.unit_of_work() as session:
            assert await _statement_timeout(session) == "2s"
        assert await postgres.run("T", _statement_timeout, deadline=0.3) == "300ms"
        assert len(sets) == 3
    finally:
        await postgres.dispose()


class _Refused(Exception):
    pass


async def test_a_rolled_back_transaction_does_not_leave_its_deadline_believed(
    migrated: Settings,
) -> None:
    """A rollback undoes the SET made in it: the next transaction with that
    deadline must set it again, not trust what the connection no longer has."""
    postgres, sets = _one_connection(migrated)

    async def fails(session: AsyncSession) -> None:
        assert await _statement_timeout(session) == "300ms"
        raise _Refused

    try:
        with pytest.raises(_Refused):
            await postgres.run("T", fails, deadline=0.3)
        assert await postgres.run("T", _statement_timeout, deadline=0.3) == "300ms"
        assert len(sets) == 2
    finally:
        await postgres.dispose()


async def test_a_transaction_an_error_aborted_does_not_leave_its_deadline_believed(
    migrated: Settings,
) -> None:
    """An error caught inside the transaction aborts it on the server, and its
    COMMIT then rolls back, with no rollback event: the error alone must make
    the connection's timeout unknown."""
    postgres, sets = _one_connection(migrated)

    async def swallows_an_error(session: AsyncSession) -> None:
        with contextlib.suppress(DBAPIError):
            await session.execute(text("SELECT 1 / 0"))

    try:
        await postgres.run("T", swallows_an_error, deadline=0.3)
        assert await postgres.run("T", _statement_timeout, deadline=0.3) == "300ms"
        assert len(sets) == 2
    finally:
        await postgres.dispose()


async def test_postgres_cancels_a_statement_past_its_deadline(migrated: Settings) -> None:
    postgres = PostgresDatabase.from_settings(migrated)
    try:

        async def sleep(session: AsyncSession) -> None:
            await session.execute(text("SELECT pg_sleep(5)"))

        started = time.monotonic()
        # What `run` does inside its deadline, without the app's own wait: the
        # server's statement_timeout stops the statement.
        with pytest.raises(StorageTimeout, match="cancelled on the server"), translate_errors("T"):
            await postgres._transaction(sleep, 0.2)
        assert time.monotonic() - started < 2
    finally:
        await postgres.dispose()


async def test_a_transaction_past_its_deadline_keeps_its_connection(migrated: Settings) -> None:
    """The caller has its timeout at the deadline and the server's
    statement_timeout ends the statement, so the connection goes back to the
    pool: cancelling it in the app closed it and the next call opened another
    (PostgreSQL sessions opened under overload, issue 11)."""
    postgres = PostgresDatabase.from_settings(migrated)
    opened: list[object] = []
    event.listen(postgres.engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def late_then_slow(session: AsyncSession) -> None:
        await session.execute(text("SELECT 1"))
        await asyncio.sleep(0.1)  # the app's own lag: the server's timer starts later
        await session.execute(text("SELECT pg_sleep(1)"))

    try:
        await postgres.run("T", _statement_timeout)
        started = time.monotonic()
        with pytest.raises(StorageTimeout):
            # Cancelled in the app at 0.3 s (before), the server ends it at
            # about 0.4 s, the backstop would at 0.6 s.
            await postgres.run("T", late_then_slow, deadline=0.3)
        assert time.monotonic() - started < 0.4

        async def returned() -> bool:
            return bool(postgres.engine.pool.checkedout() == 0)  # type: ignore[attr-defined]

        await eventually(returned)
        assert await postgres.run("T", _statement_timeout, deadline=0.3) == "300ms"
        assert len(opened) == 1
    finally:
        await postgres.dispose()


async def test_a_transaction_that_gets_its_connection_too_late_runs_nothing(
    migrated: Settings,
) -> None:
    """Its caller had its timeout while it waited for a pooled connection: it
    must not then run (and commit) its statements for nobody."""
    postgres = PostgresDatabase.from_settings(migrated.model_copy(update={"pg_pool_size": 1}))
    key = f"abandoned-{uuid.uuid4().hex}"

    async def hold(session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_sleep(0.4)"))

    async def write(session: AsyncSession) -> None:
        await session.execute(
            text(
                "INSERT INTO rate_limit_windows (key, window_index, hits, expires_at)"
                " VALUES (:key, 0, 1, now() + interval '1 hour')"
            ),
            {"key": key},
        )

    async def written(session: AsyncSession) -> int:
        found = text("SELECT count(*) FROM rate_limit_windows WHERE key = :key")
        return int((await session.execute(found, {"key": key})).scalar_one())

    try:
        holding = asyncio.ensure_future(postgres.run("T", hold, deadline=2))
        await asyncio.sleep(0.05)
        with pytest.raises(StorageTimeout):
            await postgres.run("T", write, deadline=0.2)  # waits for the one connection
        await holding
        await asyncio.sleep(0.3)  # the abandoned write has had the connection by now
        assert await postgres.run("T", written, deadline=2) == 0
    finally:
        await postgres.dispose()


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_every_mongo_command_carries_max_time_ms(migrated: Settings) -> None:
    listener = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        migrated.mongo_url.get_secret_value(),
        uuidRepresentation="standard",
        event_listeners=[listener],
    )
    mongo = MongoDatabase(client, migrated.mongo_database, deadline=0.5)
    try:
        await mongo.run("T", lambda db: db["deadline_probe"].insert_one({"_id": new_id()}))
        await mongo.run("T", lambda db: db["deadline_probe"].find_one({}), deadline=2)
        commands = {next(iter(c)): c for c in listener.commands}
        assert 0 < commands["insert"]["maxTimeMS"] <= 500
        assert 500 < commands["find"]["maxTimeMS"] <= 2000
    finally:
        await mongo.db.drop_collection("deadline_probe")
        await mongo.close()


async def test_the_mongodb_role_stops_a_find_at_max_time_ms(migrated: Settings) -> None:
    """FerretDB v1 honours maxTimeMS on find (a real MongoDB on every command)."""
    mongo = MongoDatabase.from_settings(migrated)
    collection = mongo.db["deadline_scan"]
    try:
        await collection.insert_many([{"_id": new_id(), "k": new_id()} for _ in range(5000)])
        with pytest.raises(ExecutionTimeout) as raised:
            # A filter on a UUID value scans the collection on FerretDB.
            await mongo.db.command(
                "find", "deadline_scan", filter={"k": Binary.from_uuid(new_id())}, maxTimeMS=1
            )
        assert raised.value.code == 50  # MaxTimeMSExpired
    finally:
        await collection.drop()
        await mongo.close()
