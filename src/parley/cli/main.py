"""The `parley` console script.

Each command lives in its own module, imported only when that command runs:
`parley verify` must not pay for the web app, uvicorn, Alembic or argon2
(about 30 MiB of a process that has to stay under 200 MB; docs/BENCHMARKS.md).
`parley --help` imports them all, to list each command's help line.
"""

from __future__ import annotations

import importlib

import typer
from typer import _click  # the click typer vendors: its classes are only named here
from typer.core import TyperGroup

# Command name -> the module defining a function of that name.
COMMANDS = {
    "serve": "parley.cli.serve",
    "migrate": "parley.cli.migrate",
    "dev": "parley.cli.dev",
    "health": "parley.cli.health",
    "doctor": "parley.cli.doctor",
    "verify": "parley.cli.verify",
    "repair": "parley.cli.repair",
}


class LazyCommands(TyperGroup):
    """A group that imports a command's module when the command is looked up."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        function = getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name)
        single = typer.Typer(add_completion=False)
        single.command(name=cmd_name)(function)
        return typer.main.get_command(single)


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, add_completion=False)


@app.callback()
def parley() -> None:
    """Parley: a chat backend that keeps talking when a database doesn't."""
