"""`POST /api/auth/logout` revokes the session of the token it is called with,
on this instance at once and on every other within the poll interval, with no
database round trip when a token is checked (issue 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from parley.app import create_app
from parley.realtime.schemas import CloseCode
from parley.settings import Settings
from tests.integration.test_realtime_support import client as ws_client
from tests.integration.test_realtime_support import serving
from tests.support import eventually

PASSWORD = "correct horse battery"


async def sign_in(http: httpx.AsyncClient) -> dict[str, str]:
    body = {"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
    registered = await http.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    return {"Authorization": f"Bearer {registered.json()['token']}"}


async def test_logout_revokes_only_this_session(client: httpx.AsyncClient) -> None:
    first = await sign_in(client)
    login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    second = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.get("/api/profiles/me", headers=first)).status_code == 200
    logout = await client.post("/api/auth/logout", headers=first)
    assert logout.status_code == 204
    gone = await client.get("/api/profiles/me", headers=first)
    assert gone.status_code == 401
    assert gone.json()["error"] == "Unauthorized"
    assert (await client.post("/api/auth/logout", headers=first)).status_code == 401
    assert (await client.get("/api/profiles/me", headers=second)).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/auth/logout")).status_code == 401


@pytest.fixture
async def other_instance(migrated: Settings, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    del app  # started first: it cleaned the database
    settings = migrated.model_copy(update={"revocation_poll_interval": 0.2})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://two.test") as http:
            yield http


async def test_a_logout_reaches_other_instances(
    client: httpx.AsyncClient, other_instance: httpx.AsyncClient
) -> None:
    headers = await sign_in(client)
    assert (await other_instance.get("/api/profiles/me", headers=headers)).status_code == 200
    assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204

    async def refused() -> bool:
        response = await other_instance.get("/api/profiles/me", headers=headers)
        return response.status_code == 401

    assert await eventually(refused, timeout=5) < 3


async def test_logout_all_revokes_every_session_of_the_account(
    client: httpx.AsyncClient,
) -> None:
    first = await sign_in(client)
    login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    second = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.post("/api/auth/logout-all", headers=second)).status_code == 204
    for headers in (first, second):
        assert (await client.get("/api/profiles/me", headers=headers)).status_code == 401
    again = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    fresh = {"Authorization": f"Bearer {again.json()['token']}"}
    assert (await client.get("/api/profiles/me", headers=fresh)).status_code == 200


async def test_password_change_revokes_other_sessions_and_returns_a_fresh_token(
    client: httpx.AsyncClient,
) -> None:
    old = await sign_in(client)
    wrong = await client.patch(
        "/api/profiles/me/password",
        json={"currentPassword": "not it at all", "newPassword": "a brand new one"},
        headers=old,
    )
    assert wrong.status_code == 403
    assert (await client.get("/api/profiles/me", headers=old)).status_code == 200
    changed = await client.patch(
        "/api/profiles/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new one"},
        headers=old,
    )
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['token']}"}
    assert (await client.get("/api/profiles/me", headers=old)).status_code == 401
    assert (await client.get("/api/profiles/me", headers=fresh)).status_code == 200
    old_login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old_login.status_code == 401
    new_login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "a brand new one"}
    )
    assert new_login.status_code == 200


async def test_logout_all_reaches_other_instances(
    client: httpx.AsyncClient, other_instance: httpx.AsyncClient
) -> None:
    headers = await sign_in(client)
    assert (await other_instance.get("/api/profiles/me", headers=headers)).status_code == 200
    assert (await client.post("/api/auth/logout-all", headers=headers)).status_code == 204

    async def refused() -> bool:
        response = await other_instance.get("/api/profiles/me", headers=headers)
        return response.status_code == 401

    assert await eventually(refused, timeout=5) < 3


async def test_open_websockets_of_a_revoked_session_close_4001(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await sign_in(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    other_token = login.json()["token"]
    async with (
        serving(app) as base,
        ws_client(base, token) as revoked,
        ws_client(base, other_token) as kept,
    ):
        assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204
        assert await revoked.closed_with(timeout=3) == CloseCode.UNAUTHORIZED
        await kept.send({"op": "ping"})
        await kept.expect("pong")
        other = {"Authorization": f"Bearer {other_token}"}
        assert (await client.post("/api/auth/logout-all", headers=other)).status_code == 204
        assert await kept.closed_with(timeout=3) == CloseCode.UNAUTHORIZED
