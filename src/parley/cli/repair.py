"""`parley repair`: make the stores agree on what `parley verify` finds, by
replay's version order, through the replay queues (see
`replication/repair.py`); never deletes a message. Resumable: an interrupted
repair of the same scope continues after the last conversation it finished.
Exit 0 when everything found was repaired, 1 when `--dry-run` found
divergences, 2 when it could not finish."""

from __future__ import annotations

import asyncio
import time
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
from parley.replication.runtime import Replication
from parley.replication.verify import Scope
from parley.replication.walk import Checkpoint, OnProgress, walk
from parley.settings import Settings
from parley.storage.errors import StorageError

CHECKPOINT = "repair"
DRAIN_SECONDS = 120.0


async def run_repair(
    settings: Settings, scope: Scope, *, dry_run: bool, on_progress: OnProgress | None = None
) -> Report:
    async with replication_for(settings) as replication:
        try:
            if dry_run:
                return await walk(replication.verifier(), scope, on_progress=on_progress)
            repairer = replication.repairer()
            report = await walk(
                replication.verifier(),
                scope,
                on_found=repairer.fix_all,
                on_progress=on_progress,
                checkpoint=Checkpoint(replication.postgres, CHECKPOINT),
            )
            await _drain(replication)
            return report
        except StorageError as exc:
            return Report(error=str(exc))


async def _drain(replication: Replication) -> None:
    """Deliver what was queued now, instead of waiting for an app's replay
    worker (harmless beside them: replay is leased per row)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while await replication.replay.run_once() and time.monotonic() < deadline:
        pass


def repair(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be repaired."),
    room: str | None = ROOM,
    since: datetime | None = SINCE,
    as_json: bool = typer.Option(False, "--json", help="Print every divergent id as JSON."),
) -> None:
    """Make both stores agree (newest version wins); never deletes a message."""
    settings = settings_or_exit()
    configure_logging("warning", json=settings.log_json)
    scope = scope_of(room, since)
    with progress_bar("repairing" if not dry_run else "checking") as on_progress:
        report = asyncio.run(run_repair(settings, scope, dry_run=dry_run, on_progress=on_progress))
    print_report(report, as_json=as_json, verb="differ" if dry_run else "differed (repaired)")
    if not report.finished:
        raise typer.Exit(UNFINISHED)
    raise typer.Exit(DIFFER if dry_run and report.divergent else AGREE)
