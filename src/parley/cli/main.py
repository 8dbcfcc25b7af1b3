"""The `parley` console script."""

from __future__ import annotations

import typer

from parley.cli.dev import dev
from parley.cli.doctor import doctor
from parley.cli.health import health
from parley.cli.migrate import migrate
from parley.cli.repair import repair
from parley.cli.serve import serve
from parley.cli.verify import verify

app = typer.Typer(
    help="Parley: a chat backend that keeps talking when a database doesn't.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve)
app.command()(migrate)
app.command()(dev)
app.command()(health)
app.command()(doctor)
app.command()(verify)
app.command()(repair)
