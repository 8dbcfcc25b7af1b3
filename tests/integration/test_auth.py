"""Registration and login through the HTTP API."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from parley.state import AppState
from parley.storage.postgres.models import Profile, ReplayEntry

PASSWORD = "correct horse battery"


async def register(
    client: httpx.AsyncClient, email: str = "ada@example.com", name: str = "Ada"
) -> httpx.Response:
    return await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )


async def test_register_returns_token_and_profile(client: httpx.AsyncClient) -> None:
    response = await register(client, email="  Ada@Example.COM ", name="  Ada Lovelace ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "profile"}
    profile = body["profile"]
    assert profile["email"] == "ada@example.com"
    assert profile["name"] == "Ada Lovelace"
    assert profile["imageUrl"] is None
    me = await client.get("/api/profiles/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json() == profile


async def test_register_stores_argon2id_hash_and_queues_profile_mirror(
    client: httpx.AsyncClient, state: AppState
) -> None:
    profile_id = (await register(client)).json()["profile"]["id"]
    async with state.postgres.sessionmaker() as session:
        stored = await session.scalar(select(Profile.password_hash))
        queued = (await session.execute(select(ReplayEntry.kind, ReplayEntry.entity_id))).all()
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert [(kind, str(entity)) for kind, entity in queued] == [("profile", profile_id)]


async def test_email_is_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    assert (await register(client, email="bob@example.com")).status_code == 201
    again = await register(client, email="BOB@example.com")
    assert again.status_code == 409
    assert again.json()["error"] == "EmailTaken"


async def test_login_accepts_any_email_case(client: httpx.AsyncClient) -> None:
    created = (await register(client)).json()
    response = await client.post(
        "/api/auth/login", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["profile"] == created["profile"]
    token = response.json()["token"]
    me = await client.get("/api/profiles/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


async def test_wrong_email_and_wrong_password_get_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    wrong_password = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "not the password"}
    )
    wrong_email = await client.post(
        "/api/auth/login", json={"email": "eve@example.com", "password": PASSWORD}
    )
    assert wrong_password.status_code == wrong_email.status_code == 401
    assert wrong_password.json() == wrong_email.json()
    assert wrong_password.json()["error"] == "Unauthorized"
