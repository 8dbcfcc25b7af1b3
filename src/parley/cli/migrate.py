"""`parley migrate`: bring both databases' schemas up to date."""

from __future__ import annotations

import asyncio

import typer

from parley.cli.config import settings_or_exit
from parley.settings import Settings
from parley.storage.migrate import migrate_all
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase


async def run_migrations(settings: Settings) -> None:
    postgres = PostgresDatabase.from_settings(settings)
    mongo = MongoDatabase.from_settings(settings)
    try:
        await migrate_all(postgres, mongo)
    finally:
        await mongo.close()
        await postgres.dispose()


def migrate() -> None:
    """Apply PostgreSQL migrations, create MongoDB indexes, backfill the DM mirror."""
    settings = settings_or_exit()
    asyncio.run(run_migrations(settings))
    typer.echo("migrations applied")
