"""Shared fixtures: real PostgreSQL and MongoDB-role servers for the whole session
(started through the dev stack), a clean database for every test, and an app
client over ASGI.

Fault tests kill, freeze and restart these same servers; the `servers_up`
fixture puts them back before the next test runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from parley.app import create_app
from parley.cli.migrate import run_migrations
from parley.devstack import DevStack
from parley.devstack.limits import TRAFFIC_LIMITS, raised
from parley.settings import Settings, load_settings
from parley.state import AppState
from parley.storage.mongo.database import MongoDatabase
from parley.storage.mongo.schema import INDEXES
from parley.storage.postgres.database import PostgresDatabase
from tests.support import ensure_running

TEST_SECRET = "test-secret-for-parley-0123456789"


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    data_dir = Path(tempfile.mkdtemp(prefix="parley-test-"))
    data_dir.chmod(0o755)
    dev_stack = DevStack(data_dir)
    dev_stack.start()
    try:
        yield dev_stack
    finally:
        dev_stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(stack: DevStack) -> Settings:
    os.environ.update(stack.env())
    os.environ["PARLEY_JWT_SECRET"] = TEST_SECRET
    os.environ["PARLEY_LOG_JSON"] = "true"
    # The background verifier would repair what tests tamper with on purpose;
    # tests/integration/test_antientropy.py drives it step by step instead.
    os.environ["PARLEY_ANTIENTROPY"] = "false"
    # Tests send, edit and connect much faster than people do, as a handful of
    # accounts from one address; the rate-limit tests set their own limits
    # (tests/integration/test_rate_limits.py, one of them with the defaults).
    os.environ.update(raised(TRAFFIC_LIMITS))
    return load_settings()


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> Settings:
    await run_migrations(settings)
    return settings


@pytest.fixture
async def app(migrated: Settings, stack: DevStack) -> AsyncIterator[FastAPI]:
    ensure_running(stack)
    await _clean(migrated)  # before the app's background workers start
    application = create_app(migrated)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def state(app: FastAPI) -> AppState:
    parley_state: AppState = app.state.parley
    return parley_state


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
        yield http


async def _clean(settings: Settings) -> None:
    """Empty every table and collection (faster than recreating databases), on
    connections of its own so no app worker holds locks meanwhile."""
    postgres = PostgresDatabase.from_settings(settings)
    mongo = MongoDatabase.from_settings(settings)
    try:
        for attempt in range(5):
            try:
                await _truncate(postgres)
                break
            except DBAPIError as exc:  # another app process's replay worker held a lock
                if "deadlock" not in str(exc) or attempt == 4:
                    raise
        for name in INDEXES:
            await mongo.db[name].delete_many({})
    finally:
        await mongo.close()
        await postgres.dispose()


async def _truncate(postgres: PostgresDatabase) -> None:
    """Empty the tables but keep their sequences running: app processes that
    outlive a test (the realtime fault tests' `cluster`) may still confirm or
    release queue rows by id afterwards, and must not hit the next test's rows
    (tests/integration/test_clean_between_tests.py)."""
    async with postgres.engine.begin() as conn:
        rows = await conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        )
        tables = ", ".join(f'"{row[0]}"' for row in rows)
        if tables:
            # No server-side deadline: the truncate may wait for app workers' locks.
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
