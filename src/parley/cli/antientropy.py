"""What `parley verify` and `parley repair` share: the scope from the command
line, the process's replication objects without a web app, a progress bar on a
terminal, and the printed report."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime

import typer
from rich.progress import Progress

from parley.replication.divergence import KINDS, LABELS, Report
from parley.replication.runtime import Replication
from parley.replication.verify import Scope
from parley.replication.walk import OnProgress
from parley.settings import Settings
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase

AGREE, DIFFER, UNFINISHED = 0, 1, 2
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]

ROOM = typer.Option(None, "--room", help="Only this DM conversation (its id).")
SINCE = typer.Option(
    None, "--since", formats=DATE_FORMATS, help="Only messages changed since (UTC unless given)."
)


def scope_of(room: str | None, since: datetime | None) -> Scope:
    try:
        room_id = uuid.UUID(room) if room else None
    except ValueError:
        raise typer.BadParameter(f"{room} is not a conversation id", param_hint="--room") from None
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return Scope(room_id, since)


@asynccontextmanager
async def replication_for(settings: Settings) -> AsyncIterator[Replication]:
    """Breakers and guards as in the app, with no background loops running."""
    postgres = PostgresDatabase.from_settings(settings)
    mongo = MongoDatabase.from_settings(settings)
    try:
        yield Replication(settings, mongo, postgres)
    finally:
        await mongo.close()
        await postgres.dispose()


@contextmanager
def progress_bar(label: str) -> Iterator[OnProgress | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def print_report(report: Report, *, as_json: bool, verb: str = "differ") -> None:
    if as_json:
        body = {**report.summary(), "divergences": [d.as_json() for d in report.items]}
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(f"conversations checked: {report.conversations}")
    for kind in KINDS:
        typer.echo(f"  {LABELS[kind]:<28} {report.counts.get(kind, 0)}")
    if report.error:
        typer.echo(f"could not finish: {report.error}")
    elif report.divergent:
        typer.echo(f"the stores {verb}: {report.divergent} divergent (--json lists every id)")
    else:
        typer.echo("the stores agree")
