"""`parley doctor`: check each database URL step by step and say how to fix a failure."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import typer
from pymongo import AsyncMongoClient
from pymongo import errors as pm_errors

from parley.settings import ConfigError, load_settings


@dataclass
class Finding:
    variable: str
    ok: bool
    line: str


async def check_postgres(url: str, limit_seconds: float) -> Finding:
    started = time.perf_counter()
    try:
        conn = await asyncpg.connect(
            url.replace("postgresql+asyncpg", "postgresql"), timeout=limit_seconds
        )
    except asyncpg.InvalidPasswordError:
        return Finding("DATABASE_URL", False, "authentication failed: check the user and password")
    except asyncpg.InvalidCatalogNameError:
        return Finding("DATABASE_URL", False, "database does not exist: create it or fix the path")
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        return Finding(
            "DATABASE_URL", False, f"cannot connect to {host} ({exc}): is PostgreSQL running there?"
        )
    try:
        version = await conn.fetchval("SHOW server_version", timeout=limit_seconds)
    finally:
        await conn.close()
    ms = (time.perf_counter() - started) * 1000
    return Finding("DATABASE_URL", True, f"PostgreSQL {version}, connected in {ms:.1f} ms")


async def check_mongo(url: str, limit_seconds: float) -> Finding:
    ms_timeout = int(limit_seconds * 1000)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=ms_timeout, connectTimeoutMS=ms_timeout
    )
    started = time.perf_counter()
    try:
        await client.admin.command("ping")
        info = await client.admin.command("buildInfo")
    except pm_errors.OperationFailure as exc:
        if exc.code == 18:
            return Finding("MONGO_URL", False, "authentication failed: check the user and password")
        return Finding("MONGO_URL", False, f"server refused: {exc}")
    except pm_errors.PyMongoError as exc:
        reason = str(exc).split(" (configured timeouts")[0]
        return Finding("MONGO_URL", False, f"cannot connect ({reason}): is MongoDB running there?")
    finally:
        await client.close()
    ms = (time.perf_counter() - started) * 1000
    return Finding("MONGO_URL", True, f"MongoDB-compatible {info.get('version')}, {ms:.1f} ms")


def doctor() -> None:
    """Parse, connect to and authenticate against each configured database."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"FAIL configuration: {exc}")
        raise typer.Exit(2) from None

    async def run() -> list[Finding]:
        timeout = max(settings.connect_timeout, 2.0)
        return list(
            await asyncio.gather(
                check_postgres(settings.database_url.get_secret_value(), timeout),
                check_mongo(settings.mongo_url.get_secret_value(), timeout),
            )
        )

    findings = asyncio.run(run())
    for finding in findings:
        typer.echo(f"{'OK  ' if finding.ok else 'FAIL'} {finding.variable}: {finding.line}")
    raise typer.Exit(0 if all(f.ok for f in findings) else 1)
