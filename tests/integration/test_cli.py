"""The `parley` console script against the real test servers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from parley.cli.main import app
from parley.settings import Settings


def _parley(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command", ["serve", "migrate", "dev", "health", "doctor", "verify", "repair"]
)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_health_exit_codes(migrated: Settings) -> None:
    healthy = _parley("health")
    assert healthy.returncode == 0, healthy.stderr
    assert '"status": "healthy"' in healthy.stdout
    degraded = _parley("health", MONGO_URL="mongodb://127.0.0.1:1/parley")
    assert degraded.returncode == 1
    unhealthy = _parley(
        "health",
        MONGO_URL="mongodb://127.0.0.1:1/parley",
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/parley",
    )
    assert unhealthy.returncode == 2


def test_doctor_reports_versions_and_one_line_failures(migrated: Settings) -> None:
    ok = _parley("doctor")
    assert ok.returncode == 0, ok.stdout
    assert "OK   DATABASE_URL: PostgreSQL 15" in ok.stdout
    assert "OK   MONGO_URL: MongoDB-compatible" in ok.stdout
    broken = _parley("doctor", MONGO_URL="mongodb://127.0.0.1:1/parley")
    assert broken.returncode == 1
    lines = broken.stdout.strip().splitlines()
    assert len(lines) == 2
    assert (
        lines[1].startswith("FAIL MONGO_URL: cannot connect") and "is MongoDB running" in lines[1]
    )


def test_migrate_command(migrated: Settings) -> None:
    result = _parley("migrate")
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
