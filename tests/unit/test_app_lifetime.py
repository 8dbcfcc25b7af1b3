"""An app that is done with is freed. The test suite builds an app per test in
one process; each app kept alive kept its pools and caches too, and the full
garbage collections of that growing heap paused the process for up to two
seconds late in the suite, long enough for a request to miss its database
deadline and answer 503 (a CI failure in tests/integration/test_authz_matrix.py)."""

from __future__ import annotations

import gc
import weakref

import httpx
import pytest

from parley.app import create_app
from parley.settings import load_settings


def _served_app(monkeypatch: pytest.MonkeyPatch) -> weakref.ref[object]:
    monkeypatch.chdir("/")  # no stray .env
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/parley")
    monkeypatch.setenv("MONGO_URL", "mongodb://mongo.example:27017/parley")
    monkeypatch.setenv("PARLEY_JWT_SECRET", "x" * 32)
    app = create_app(load_settings())
    return weakref.ref(app)


async def _visit_docs(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        assert (await client.get("/docs")).status_code == 200


async def test_an_app_is_freed_once_nothing_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _served_app(monkeypatch)
    app = ref()
    await _visit_docs(app)
    del app
    gc.collect()
    assert ref() is None, "something global still refers to a finished app"
