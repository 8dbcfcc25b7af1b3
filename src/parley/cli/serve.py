"""`parley serve`: run the API with uvicorn, on every core by default.

With `--workers N` above 1, uvicorn's supervisor runs N processes on one
listening socket; each builds its own app (`parley.app.app_from_environment`),
with its own breakers, replay worker and realtime hub. Nothing needs sharing:
replay is leased in the databases and realtime events cross processes through
PostgreSQL LISTEN/NOTIFY, as between separate instances.
"""

from __future__ import annotations

import os

import typer
import uvicorn

from parley.app import create_app
from parley.cli.config import settings_or_exit
from parley.logging import configure_logging
from parley.security.setup import uvicorn_options
from parley.settings import Settings

# Seconds uvicorn lets requests in flight finish on shutdown (longer than any
# request's database deadlines, well inside the five seconds a stop may take).
GRACEFUL_SHUTDOWN = 1


def default_workers() -> int:
    return os.cpu_count() or 1


def run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until Ctrl-C or SIGTERM. The settings were already validated here,
    so a worker reading them again from the environment cannot fail."""
    options = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
        **uvicorn_options(settings),
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        uvicorn.run(
            "parley.app:app_from_environment",
            factory=True,
            workers=workers,
            **options,
        )


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port to bind."),
    workers: int = typer.Option(
        default_workers(), min=1, help="Processes serving the port (default: one per CPU)."
    ),
) -> None:
    """Serve the HTTP and WebSocket API."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, json=settings.log_json, settings=settings)
    run_server(settings, host, port, workers)
