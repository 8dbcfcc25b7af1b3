"""Profiles through the HTTP API: your own, other people's (only when you share a
server), and changes that reach the MongoDB mirror."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from parley.state import AppState
from parley.storage.mongo.schema import PROFILES, key
from tests.factories import make_person, make_server
from tests.support import eventually


async def mirrored(state: AppState, profile_id: uuid.UUID) -> dict[str, Any] | None:
    """The profile as the MongoDB mirror holds it (what DMs show while
    PostgreSQL is down)."""
    doc = await state.mongo.db[PROFILES].find_one({"_id": key(profile_id)})
    return {"name": doc["name"], "imageUrl": doc.get("imageUrl")} if doc else None


async def test_me_shows_email(client: httpx.AsyncClient, state: AppState) -> None:
    ada = await make_person(state, "Ada")
    response = await client.get("/api/profiles/me", headers=ada.headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": str(ada.id), "name": "Ada", "imageUrl": None, "email": f"{ada.id.hex}@example.com"
    }  # fmt: skip


async def test_changes_of_name_and_image_reach_the_mirror(
    client: httpx.AsyncClient, state: AppState
) -> None:
    # The mirror's outcome, not its queue rows: replay may drain those at any time.
    ada = await make_person(state, "Ada")
    changed = await client.patch(
        "/api/profiles/me",
        json={"name": " Ada L. ", "imageUrl": "https://example.com/ada.png"},
        headers=ada.headers,
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Ada L."
    assert changed.json()["imageUrl"] == "https://example.com/ada.png"
    expected = {"name": "Ada L.", "imageUrl": "https://example.com/ada.png"}
    await eventually(lambda: _mirror_is(state, ada.id, expected))
    cleared = await client.patch("/api/profiles/me", json={"imageUrl": None}, headers=ada.headers)
    assert cleared.json()["imageUrl"] is None
    assert cleared.json()["name"] == "Ada L."
    await eventually(lambda: _mirror_is(state, ada.id, {"name": "Ada L.", "imageUrl": None}))
    nothing = await client.patch("/api/profiles/me", json={}, headers=ada.headers)
    assert nothing.status_code == 200
    me = await client.get("/api/profiles/me", headers=ada.headers)
    assert me.json()["name"] == "Ada L."
    assert await mirrored(state, ada.id) == {"name": "Ada L.", "imageUrl": None}


async def _mirror_is(state: AppState, profile_id: uuid.UUID, expected: dict[str, Any]) -> bool:
    return await mirrored(state, profile_id) == expected


async def test_profiles_are_visible_only_to_people_sharing_a_server(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob, eve = [await make_person(state, n) for n in ("Ada", "Bob", "Eve")]
    await make_server(state, ada, {bob: "GUEST"})
    await make_server(state, eve)
    seen = await client.get(f"/api/profiles/{bob.id}", headers=ada.headers)
    assert seen.status_code == 200
    assert seen.json() == {"id": str(bob.id), "name": "Bob", "imageUrl": None}  # no email
    assert (await client.get(f"/api/profiles/{eve.id}", headers=ada.headers)).status_code == 404
    assert (await client.get(f"/api/profiles/{ada.id}", headers=eve.headers)).status_code == 404
    own = await client.get(f"/api/profiles/{ada.id}", headers=ada.headers)
    assert own.status_code == 200
    assert "email" not in own.json()


@pytest.mark.parametrize("profile_id", ["me2", str(uuid.uuid4()), "%00", "z" * 300])
async def test_unknown_or_malformed_profile_ids_are_404(
    client: httpx.AsyncClient, state: AppState, profile_id: str
) -> None:
    ada = await make_person(state)
    response = await client.get(f"/api/profiles/{profile_id}", headers=ada.headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"name": ""},
        {"name": " \t "},
        {"name": "x" * 101},
        {"name": "a\x00b"},
        {"name": "line\nbreak"},
        {"imageUrl": "not a url"},
        {"imageUrl": "mailto:ada@example.com"},
        {"imageUrl": "https://example.com/" + "a" * 2048},
        {"imageUrl": ["https://example.com"]},
    ],
)
async def test_profile_changes_are_validated(
    client: httpx.AsyncClient, state: AppState, body: dict[str, object]
) -> None:
    ada = await make_person(state)
    response = await client.patch("/api/profiles/me", json=body, headers=ada.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"
    assert response.json()["detail"].split(":")[0] in {"name", "imageUrl"}


async def test_token_of_an_unknown_profile_is_401_on_me(
    client: httpx.AsyncClient, state: AppState
) -> None:
    from parley.auth.tokens import issue_token

    token = issue_token(uuid.uuid4(), state.settings.jwt_secret.get_secret_value(), 60)
    response = await client.get("/api/profiles/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
