"""The curl walk-through of docs/API.md, step by step through the app, so the
document cannot drift from what the API does."""

from __future__ import annotations

import httpx


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_md_walkthrough(client: httpx.AsyncClient) -> None:
    ada = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": "correct horse", "name": "Ada"},
    )
    bob = await client.post(
        "/api/auth/register",
        json={"email": "bob@example.com", "password": "battery staple", "name": "Bob"},
    )
    assert ada.status_code == bob.status_code == 201
    ada_token, ada_id = ada.json()["token"], ada.json()["profile"]["id"]
    bob_token = bob.json()["token"]

    login = await client.post(
        "/api/auth/login", json={"email": "ADA@example.com", "password": "correct horse"}
    )
    assert login.json()["profile"]["id"] == ada_id

    server = await client.post(
        "/api/servers", json={"name": "Analytical Engines"}, headers=bearer(ada_token)
    )
    assert [c["name"] for c in server.json()["channels"]] == ["general"]
    server_id, invite = server.json()["id"], server.json()["inviteCode"]

    joined = await client.post(f"/api/invites/{invite}", headers=bearer(bob_token))
    assert (joined.json()["server"]["name"], joined.json()["member"]["role"]) == (
        "Analytical Engines", "GUEST"
    )  # fmt: skip

    dm_body = {"type": "dm", "profileId": ada_id}
    first = await client.post("/api/rooms", json=dm_body, headers=bearer(bob_token))
    again = await client.post("/api/rooms", json=dm_body, headers=bearer(bob_token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (again.json()["type"], again.json()["name"]) == ("dm", "Ada")
    dm_id = again.json()["id"]

    sent = await client.post(
        f"/api/rooms/{dm_id}/messages", json={"content": "Hello, Ada!"}, headers=bearer(bob_token)
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["content"] == "Hello, Ada!"
    rooms = await client.get("/api/rooms", headers=bearer(ada_token))
    assert [(r["type"], r["name"]) for r in rooms.json()] == [("dm", "Bob")]

    as_guest = await client.get(f"/api/servers/{server_id}", headers=bearer(bob_token))
    assert as_guest.json()["inviteCode"] is None
    made_up = "01936b2e-0000-7000-8000-000000000000"
    assert (
        await client.get(f"/api/servers/{made_up}", headers=bearer(bob_token))
    ).status_code == 404
