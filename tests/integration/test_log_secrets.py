"""A real `parley serve` with console logs (what `make run` uses), driven
through the failure paths an attacker reaches without logging in: its log must
never contain the JWT key, a database URL or the password in it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from parley.auth.tokens import issue_token
from parley.ids import new_id
from parley.settings import Settings
from tests.integration.test_realtime_support import Client, parley_process, ws_url

JWT_SECRET = "log-scan-jwt-secret-0123456789-abcdef"
DB_PASSWORD = "log-scan-db-password-42"


def _with_password(url: str) -> str:
    """The test server trusts local connections, so any password is accepted."""
    parts = urlsplit(url)
    netloc = f"{parts.username}:{DB_PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _nested_header_token() -> str:
    header = base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode()
    return f"{header}.e30.c2ln"


@pytest.mark.parametrize("log_json", ["false", "true"])
async def test_failure_paths_log_no_secret(
    migrated: Settings, tmp_path: Path, log_json: str
) -> None:
    database_url = _with_password(migrated.database_url.get_secret_value())
    log_path = str(tmp_path / "serve.log")
    with parley_process(
        migrated,
        log_path,
        DATABASE_URL=database_url,
        PARLEY_JWT_SECRET=JWT_SECRET,
        PARLEY_LOG_JSON=log_json,
        PARLEY_LOG_LEVEL="debug",
    ) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/api/health")).status_code in (200, 503)
            bad = {"Authorization": f"Bearer {_nested_header_token()}"}
            assert (await http.get("/api/profiles/me", headers=bad)).status_code == 401
            ghost = issue_token(new_id(), JWT_SECRET, 60)
            ghost_headers = {"Authorization": f"Bearer {ghost}"}
            await http.get("/api/profiles/me", headers=ghost_headers)
            await http.post("/api/auth/login", content=b"{bad")
            await http.post("/api/auth/login", content=b"[" * 5000)
            await http.post("/api/auth/login", content=b"x" * 200_000)
            await http.get("/api/%1B[2J%0D%0Apath")
        async with connect(ws_url(base), open_timeout=5) as ws:
            await ws.send("[" * 2000)
            await Client(ws).closed_with()
        async with connect(ws_url(base), open_timeout=5) as ws:
            c = Client(ws)
            await c.send({"op": "auth", "token": ghost})
            await c.expect("authenticated")
            for frame in ("[" * 2000, '{"op": "subscribe", "roomId": "\\ud800"}'):
                await c.send(frame)
                await c.expect("error")
    log = Path(log_path).read_text(errors="replace")
    assert "request" in log  # the log was written
    for secret in (JWT_SECRET, DB_PASSWORD, database_url):
        assert secret not in log
    assert "\x1b" not in log
    if log_json == "true":
        for line in log.splitlines():
            if line.startswith("{"):
                json.loads(line)
