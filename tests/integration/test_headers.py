"""Response headers and self-hosted docs (issue 15)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from parley.app import create_app
from parley.settings import Settings
from parley.state import AppState
from tests.factories import make_person


async def test_authenticated_json_is_not_sniffed_or_stored(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state)
    response = await client.get("/api/profiles/me", headers=ada.headers)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_errors_and_refusals_carry_the_headers_too(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/profiles/me"),
        await client.post("/api/auth/login", content=b"x" * 100_000),
    ):
        assert response.status_code in (401, 413)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = await client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_configured_origins(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"cors_origins": ["https://app.example"]})
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
        allowed = await http.options(
            "/api/auth/login",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in allowed.headers
        refused = await http.options(
            "/api/auth/login",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in refused.headers


async def test_docs_load_nothing_from_a_cdn(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    for source in sources:
        assert source.startswith("/"), source
        asset = await client.get(source)
        assert asset.status_code == 200, source
    assert "cdn." not in page.text
    assert (await client.get("/redoc")).status_code == 404


@pytest.fixture
def app_without_lifespan(migrated: Settings) -> FastAPI:
    return create_app(migrated)


def test_openapi_declares_the_bearer_scheme(app_without_lifespan: FastAPI) -> None:
    schema = app_without_lifespan.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    me = schema["paths"]["/api/profiles/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/api/auth/login"]["post"]
