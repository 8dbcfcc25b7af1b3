"""`parley serve`: run the API with uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from parley.app import create_app
from parley.cli.config import settings_or_exit
from parley.logging import configure_logging
from parley.security.setup import uvicorn_options


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port to bind."),
) -> None:
    """Serve the HTTP and WebSocket API."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, json=settings.log_json, settings=settings)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        **uvicorn_options(settings),
    )
