"""Errors say what happened (issue 15): a storage conflict is 409 (a foreign
key to a profile that no longer exists: 401), only unavailability is 503."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from parley.errors import install_error_handlers
from parley.storage.errors import StorageConflict, StorageError, StorageUnavailable


def _app(error: StorageError) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (StorageUnavailable("ConnectionRefusedError: ...", store="postgresql"), 503, None),
        (StorageConflict("duplicate key", store="postgresql", kind="unique"), 409, "Conflict"),
        (
            StorageConflict(
                "violates foreign key",
                store="postgresql",
                kind="foreign_key",
                constraint="fk_servers_owner_profile_id_profiles",
            ),
            401,
            "Unauthorized",
        ),
        (
            StorageConflict(
                "violates foreign key",
                store="postgresql",
                kind="foreign_key",
                constraint="fk_channels_server_id_servers",
            ),
            409,
            "Conflict",
        ),
    ],
)
async def test_storage_errors_map_to_what_happened(
    error: StorageError, status: int, code: str | None
) -> None:
    transport = httpx.ASGITransport(app=_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/boom")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "detail"}
    if code:
        assert body["error"] == code
    assert "duplicate key" not in body["detail"] and "foreign key" not in body["detail"]
