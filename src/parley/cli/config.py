"""Settings for CLI commands: a configuration error prints one line and exits 2."""

from __future__ import annotations

import typer

from parley.settings import ConfigError, Settings, load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
