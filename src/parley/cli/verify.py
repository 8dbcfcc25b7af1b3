"""`parley verify`: compare the DMs (and the DM mirror) of both stores;
read-only. Exit 0 when they agree, 1 when they differ, 2 when it could not
finish."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer

from parley.cli.antientropy import (
    AGREE,
    DIFFER,
    ROOM,
    SINCE,
    UNFINISHED,
    print_report,
    progress_bar,
    replication_for,
    scope_of,
)
from parley.cli.config import settings_or_exit
from parley.logging import configure_logging
from parley.replication.divergence import Report
from parley.replication.verify import Scope
from parley.replication.walk import OnProgress, walk
from parley.settings import Settings
from parley.storage.errors import StorageError


async def run_verify(settings: Settings, scope: Scope, on_progress: OnProgress | None) -> Report:
    async with replication_for(settings) as replication:
        try:
            return await walk(replication.verifier(), scope, on_progress=on_progress)
        except StorageError as exc:
            return Report(error=str(exc))


def verify(
    room: str | None = ROOM,
    since: datetime | None = SINCE,
    as_json: bool = typer.Option(False, "--json", help="Print every divergent id as JSON."),
) -> None:
    """Compare both stores' DMs and mirror; exit 0 agree, 1 differ, 2 unfinished."""
    settings = settings_or_exit()
    configure_logging("warning", json=settings.log_json)
    scope = scope_of(room, since)
    with progress_bar("verifying") as on_progress:
        report = asyncio.run(run_verify(settings, scope, on_progress))
    print_report(report, as_json=as_json)
    if not report.finished:
        raise typer.Exit(UNFINISHED)
    raise typer.Exit(DIFFER if report.divergent else AGREE)
