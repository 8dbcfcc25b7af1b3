"""`parley verify` and `parley repair` import only what they use: not the web
app, uvicorn, Alembic or argon2 (their share of a process that must stay under
200 MB; docs/BENCHMARKS.md, "Anti-entropy")."""

from __future__ import annotations

import subprocess
import sys

import pytest

WEB_ONLY = ("fastapi", "starlette", "uvicorn", "alembic", "argon2", "parley.app")

PROBE = """
import sys
from typer import _click
from typer.main import get_command
from parley.cli.main import app

group = get_command(app)
group.get_command(_click.Context(group), sys.argv[1])
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:]
                      or any(m == w or m.startswith(w + ".") for w in sys.argv[2:]))))
"""


@pytest.mark.parametrize("command", ["verify", "repair"])
def test_antientropy_commands_do_not_import_the_web_stack(command: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, command, *WEB_ONLY],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert probe.stdout.split() == []


def test_the_probe_sees_a_command_that_needs_the_web_stack() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, "serve", *WEB_ONLY],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert {"fastapi", "parley.app", "uvicorn"} <= set(probe.stdout.split())
