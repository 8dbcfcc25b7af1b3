"""`parley dev` (what `make run` does): start local PostgreSQL and MongoDB-role
servers with data under `.data/`, migrate, and serve the API. Ctrl-C stops
everything it started; running it again reuses the data."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import typer

from parley.cli.migrate import run_migrations
from parley.cli.serve import default_workers, run_server
from parley.devstack import DEV_PORTS, DevStack
from parley.devstack.ports import port_open
from parley.devstack.process import DevStackError
from parley.logging import configure_logging
from parley.settings import load_settings


def _dev_secret(data_dir: Path) -> str:
    path = data_dir / "jwt_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def dev(
    data_dir: Path = typer.Option(Path(".data"), help="Where the local servers keep their data."),
    host: str = typer.Option("127.0.0.1", help="Address the API binds."),
    port: int = typer.Option(8000, help="Port the API binds."),
    workers: int = typer.Option(
        default_workers(), min=1, help="API processes (default: one per CPU)."
    ),
) -> None:
    """Start local databases, migrate, and serve the API (Ctrl-C stops all)."""
    if port_open(port, host):
        typer.echo(f"error: {host}:{port} is already in use; stop what runs there or pass --port")
        raise typer.Exit(1)
    stack = DevStack(data_dir, DEV_PORTS)
    typer.echo(f"starting PostgreSQL and {stack.mongo.kind} under {stack.data_dir} ...")
    try:
        stack.start()
        os.environ.update(stack.env())
        os.environ.setdefault("PARLEY_JWT_SECRET", _dev_secret(stack.data_dir))
        os.environ.setdefault("PARLEY_LOG_JSON", "false")
        settings = load_settings()
        configure_logging(settings.log_level, json=settings.log_json, settings=settings)
        asyncio.run(run_migrations(settings))
        typer.echo(f"DATABASE_URL={stack.database_url}\nMONGO_URL={stack.mongo_url}")
        typer.echo(f"API on http://{host}:{port}  (docs at /docs)")
        run_server(settings, host, port, workers)
    except DevStackError as exc:
        typer.echo(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        typer.echo("stopping local databases ...")
        stack.stop()
