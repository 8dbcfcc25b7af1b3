"""Secrets never reach a log line or a repr (issue 15): settings hold them as
secret types, tracebacks never print local variables, and any configured
secret that still ends up in a line is masked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from parley.settings import ConfigError, load_settings

JWT_SECRET = "jwt-secret-that-must-never-be-logged-42"
DB_PASSWORD = "pg-password-never-logged"
DATABASE_URL = f"postgresql://parley:{DB_PASSWORD}@db.example:5432/parley"
MONGO_URL = "mongodb://parley:mongo-password-never-logged@mongo.example:27017/chat"
SECRETS = (JWT_SECRET, DB_PASSWORD, "mongo-password-never-logged")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.chdir("/")
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("MONGO_URL", MONGO_URL)
    monkeypatch.setenv("PARLEY_JWT_SECRET", JWT_SECRET)
    return monkeypatch


def test_settings_never_show_secrets(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    shown = " ".join([repr(settings), str(settings), str(settings.model_dump())])
    for secret in SECRETS:
        assert secret not in shown
    assert settings.jwt_secret.get_secret_value() == JWT_SECRET


def test_jwt_secret_needs_32_characters(env: pytest.MonkeyPatch) -> None:
    env.setenv("PARLEY_JWT_SECRET", "s" * 31)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value) == "PARLEY_JWT_SECRET is invalid: must be at least 32 characters"
    assert "s" * 31 not in str(error.value)


_FAILING_SCRIPT = r"""
import logging, sys
import structlog
from parley.logging import configure_logging
from parley.settings import load_settings

settings = load_settings()
configure_logging("info", json=sys.argv[1] == "json", settings=settings)

def handler(jwt_secret, database_url):
    local_copy = settings  # a frame whose locals hold every secret
    raise RuntimeError("boom")

try:
    handler(settings.jwt_secret.get_secret_value(), settings.database_url.get_secret_value())
except RuntimeError:
    structlog.get_logger("parley.test").exception("handler_failed")
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
structlog.get_logger("parley.http").info("request", path="/api/\x1b[2J\r\nfake line")
logging.getLogger("uvicorn.error").warning("path %s", "/x\x1b[31mred")
structlog.get_logger("parley.test").warning(
    "driver_error", error="connect to " + settings.database_url.get_secret_value() + " failed"
)
"""


@pytest.mark.parametrize("mode", ["console", "json"])
def test_tracebacks_print_no_locals_and_no_secret(env: pytest.MonkeyPatch, mode: str) -> None:
    del env
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FAILING_SCRIPT), mode],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "RuntimeError" in output  # the traceback itself is kept
    assert "handler_failed" in output and "driver_error" in output
    assert "local_copy" not in output  # no local variables at all
    for secret in SECRETS:
        assert secret not in output, output
    assert "\x1b" not in output and "\r" not in output  # control characters escaped
