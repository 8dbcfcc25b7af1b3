"""`parley health`: the configured databases' health; exit 0/1/2."""

from __future__ import annotations

import asyncio
import json

import typer

from parley.cli.config import settings_or_exit
from parley.health.service import summarize
from parley.logging import configure_logging
from parley.resilience import check_database_health
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase

EXIT_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def health() -> None:
    """Print database health; exit 0 healthy, 1 degraded, 2 unhealthy."""
    settings = settings_or_exit()
    configure_logging("warning", json=settings.log_json, settings=settings)

    async def probe() -> dict[str, object]:
        postgres = PostgresDatabase.from_settings(settings)
        mongo = MongoDatabase.from_settings(settings)
        try:
            return await check_database_health(mongo, postgres, deadline=settings.health_deadline)
        finally:
            await mongo.close()
            await postgres.dispose()

    databases = asyncio.run(probe())
    status, message = summarize(databases)
    typer.echo(json.dumps({"status": status, "databases": databases, "message": message}))
    raise typer.Exit(EXIT_CODES[status])
