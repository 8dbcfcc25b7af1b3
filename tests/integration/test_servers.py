"""Servers, invites, members and roles, ownership, leaving and kicking, through
the HTTP API."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from parley.state import AppState
from parley.storage.postgres.models import ChannelMessage, Conversation, Member
from tests.factories import (
    Person,
    make_channel_message,
    make_dm,
    make_person,
    make_server,
    member_id_of,
    record_room_events,
)


async def create_server(client: httpx.AsyncClient, owner: Person, **body: object) -> dict:
    response = await client.post(
        "/api/servers", json={"name": "Lab", **body}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def join(client: httpx.AsyncClient, person: Person, code: str) -> httpx.Response:
    return await client.post(f"/api/invites/{code}", headers=person.headers)


async def test_creator_is_owner_and_admin_with_a_general_channel(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state, "Ada")
    server = await create_server(
        client, ada, name="  Lab  ", imageUrl="https://img.example.com/lab.png"
    )
    assert server["name"] == "Lab"
    assert server["imageUrl"] == "https://img.example.com/lab.png"
    assert server["ownerId"] == str(ada.id)
    assert [(c["name"], c["type"]) for c in server["channels"]] == [("general", "TEXT")]
    [member] = server["members"]
    assert member["role"] == "ADMIN"
    assert member["profile"] == {"id": str(ada.id), "name": "Ada", "imageUrl": None}
    assert isinstance(server["inviteCode"], str)
    assert len(server["inviteCode"]) >= 20
    assert server["createdAt"].endswith("Z") or server["createdAt"].endswith("+00:00")
    listed = await client.get("/api/servers", headers=ada.headers)
    assert [s["id"] for s in listed.json()] == [server["id"]]


async def test_server_list_holds_only_my_servers(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    await create_server(client, ada)
    assert (await client.get("/api/servers", headers=bob.headers)).json() == []


async def test_join_by_invite_as_guest_and_twice_returns_same_member(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    server = await create_server(client, ada)
    first = await join(client, bob, server["inviteCode"])
    assert first.status_code == 200
    body = first.json()
    assert body["member"]["role"] == "GUEST"
    assert body["member"]["profile"]["id"] == str(bob.id)
    assert body["server"]["id"] == server["id"]
    assert body["server"]["inviteCode"] is None  # guests do not see it
    again = await join(client, bob, server["inviteCode"])
    assert again.status_code == 200
    assert again.json()["member"]["id"] == body["member"]["id"]
    detail = await client.get(f"/api/servers/{server['id']}", headers=bob.headers)
    assert len(detail.json()["members"]) == 2


@pytest.mark.parametrize("code", ["nope", "x" * 64, "x" * 65, "a%00b", "..", "%F0%9F%98%80"])
async def test_unknown_or_malformed_invite_code_is_404(
    client: httpx.AsyncClient, state: AppState, code: str
) -> None:
    bob = await make_person(state, "Bob")
    response = await join(client, bob, code)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_rotating_the_invite_code_retires_the_old_one(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner, guest, late = [await make_person(state, n) for n in ("Ada", "Bob", "Cy")]
    server = await create_server(client, owner)
    old = server["inviteCode"]
    await join(client, guest, old)
    rotated = await client.post(f"/api/servers/{server['id']}/invite-code", headers=owner.headers)
    assert rotated.status_code == 200
    new = rotated.json()["inviteCode"]
    assert new != old
    assert (await join(client, late, old)).status_code == 404
    assert (await join(client, late, new)).status_code == 200
    detail = await client.get(f"/api/servers/{server['id']}", headers=owner.headers)
    assert detail.json()["inviteCode"] == new


async def test_moderator_sees_and_rotates_invite_code_guest_does_not(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner, mod, guest = [await make_person(state, n) for n in ("Ada", "Mo", "Gus")]
    server_id, _ = await make_server(state, owner, {mod: "MODERATOR", guest: "GUEST"})
    as_mod = await client.get(f"/api/servers/{server_id}", headers=mod.headers)
    as_guest = await client.get(f"/api/servers/{server_id}", headers=guest.headers)
    assert as_mod.json()["inviteCode"]
    assert as_guest.json()["inviteCode"] is None
    url = f"/api/servers/{server_id}/invite-code"
    assert (await client.post(url, headers=mod.headers)).status_code == 200
    assert (await client.post(url, headers=guest.headers)).status_code == 403


async def test_admin_updates_name_and_clears_image(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state)
    server = await create_server(client, ada, imageUrl="http://example.com/a.png")
    url = f"/api/servers/{server['id']}"
    renamed = await client.patch(url, json={"name": " New name "}, headers=ada.headers)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "New name"
    assert renamed.json()["imageUrl"] == "http://example.com/a.png"
    cleared = await client.patch(url, json={"imageUrl": None}, headers=ada.headers)
    assert cleared.json()["imageUrl"] is None
    assert cleared.json()["name"] == "New name"
    unchanged = await client.patch(url, json={}, headers=ada.headers)
    assert unchanged.status_code == 200
    assert unchanged.json()["name"] == "New name"


async def test_owner_cannot_leave(client: httpx.AsyncClient, state: AppState) -> None:
    ada = await make_person(state)
    server_id, _ = await make_server(state, ada)
    response = await client.post(f"/api/servers/{server_id}/leave", headers=ada.headers)
    assert response.status_code == 409
    assert response.json()["error"] == "OwnerCannotLeave"


async def _message_member_ids(state: AppState, message_id: uuid.UUID) -> list[uuid.UUID | None]:
    """The member_id of the message (one entry while the message exists)."""
    async with state.postgres.sessionmaker() as session:
        rows = await session.scalars(
            select(ChannelMessage.member_id).where(ChannelMessage.id == message_id)
        )
        return list(rows)


async def _conversation_count(state: AppState) -> int:
    async with state.postgres.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Conversation)) or 0)


async def test_leaving_removes_membership_only(client: httpx.AsyncClient, state: AppState) -> None:
    owner, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    server_id, general = await make_server(state, owner, {bob: "GUEST"})
    message_id = await make_channel_message(state, server_id, general, bob)
    await make_dm(state, owner, bob)
    events = record_room_events(state)
    response = await client.post(f"/api/servers/{server_id}/leave", headers=bob.headers)
    assert response.status_code == 204
    assert await _message_member_ids(state, message_id) == [None]
    assert await _conversation_count(state) == 1
    assert events.revoked == [({general}, bob.id, "left")]
    assert (await client.get(f"/api/servers/{server_id}", headers=bob.headers)).status_code == 404
    assert (await client.get("/api/servers", headers=bob.headers)).json() == []
    rooms = await client.get("/api/rooms", headers=bob.headers)
    assert [room["type"] for room in rooms.json()] == ["dm"]


async def test_kick_removes_membership_only(client: httpx.AsyncClient, state: AppState) -> None:
    owner, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    server_id, general = await make_server(state, owner, {bob: "GUEST"})
    extra = await client.post(
        f"/api/servers/{server_id}/channels", json={"name": "random"}, headers=owner.headers
    )
    message_id = await make_channel_message(state, server_id, general, bob)
    await make_dm(state, owner, bob)
    events = record_room_events(state)
    member_id = await member_id_of(state, server_id, bob)
    response = await client.delete(f"/api/members/{member_id}", headers=owner.headers)
    assert response.status_code == 204
    assert await _message_member_ids(state, message_id) == [None]
    assert await _conversation_count(state) == 1
    assert events.revoked == [({general, uuid.UUID(extra.json()["id"])}, bob.id, "kicked")]
    assert (await client.get(f"/api/servers/{server_id}", headers=bob.headers)).status_code == 404
    # kicked, not banned: the invite still works
    detail = await client.get(f"/api/servers/{server_id}", headers=owner.headers)
    assert (await join(client, bob, detail.json()["inviteCode"])).status_code == 200


async def test_kick_rules(client: httpx.AsyncClient, state: AppState) -> None:
    owner, admin, mod, mod2, guest = [
        await make_person(state, n) for n in ("Own", "Adm", "Mod", "Mod2", "Gus")
    ]
    server_id, _ = await make_server(
        state, owner, {admin: "ADMIN", mod: "MODERATOR", mod2: "MODERATOR", guest: "GUEST"}
    )
    ids = {p: await member_id_of(state, server_id, p) for p in (owner, admin, mod, mod2, guest)}

    async def kick(by: Person, target: Person) -> int:
        return (await client.delete(f"/api/members/{ids[target]}", headers=by.headers)).status_code

    assert await kick(admin, owner) == 403  # nobody kicks the owner
    assert await kick(mod, mod2) == 403  # moderators kick guests only
    assert await kick(mod, admin) == 403
    assert await kick(guest, mod) == 403
    assert await kick(admin, admin) == 403  # leave instead
    assert await kick(mod, guest) == 204
    assert await kick(admin, mod2) == 204
    assert await kick(owner, admin) == 204
    assert await kick(owner, guest) == 404  # already gone


async def test_role_change_rules(client: httpx.AsyncClient, state: AppState) -> None:
    owner, admin, mod, guest = [await make_person(state, n) for n in ("Own", "Adm", "Mod", "Gus")]
    server_id, _ = await make_server(
        state, owner, {admin: "ADMIN", mod: "MODERATOR", guest: "GUEST"}
    )
    ids = {p: await member_id_of(state, server_id, p) for p in (owner, admin, mod, guest)}

    async def set_role(by: Person, target: Person, role: str) -> httpx.Response:
        return await client.patch(
            f"/api/members/{ids[target]}", json={"role": role}, headers=by.headers
        )

    promoted = await set_role(admin, guest, "MODERATOR")
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "MODERATOR"
    assert promoted.json()["profile"]["id"] == str(guest.id)
    assert (await set_role(admin, admin, "GUEST")).status_code == 403  # own role
    assert (await set_role(owner, owner, "GUEST")).status_code == 403
    assert (await set_role(admin, owner, "GUEST")).status_code == 403  # owner's role
    assert (await set_role(mod, guest, "GUEST")).status_code == 403  # not ADMIN
    assert (await set_role(owner, admin, "GUEST")).status_code == 200
    invalid = await set_role(owner, mod, "OWNER")
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "ValidationError"
    assert "role" in invalid.json()["detail"]


async def test_transfer_ownership_then_old_owner_may_leave(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner, guest = await make_person(state, "Own"), await make_person(state, "Gus")
    server_id, _ = await make_server(state, owner, {guest: "GUEST"})
    guest_member = await member_id_of(state, server_id, guest)
    url = f"/api/servers/{server_id}/transfer-ownership"
    refused = await client.post(url, json={"memberId": str(guest_member)}, headers=guest.headers)
    assert refused.status_code == 403
    elsewhere = await client.post(url, json={"memberId": str(uuid.uuid4())}, headers=owner.headers)
    assert elsewhere.status_code == 404
    moved = await client.post(url, json={"memberId": str(guest_member)}, headers=owner.headers)
    assert moved.status_code == 200
    assert moved.json()["ownerId"] == str(guest.id)
    roles = {m["profile"]["id"]: m["role"] for m in moved.json()["members"]}
    assert roles == {str(owner.id): "ADMIN", str(guest.id): "ADMIN"}
    left = await client.post(f"/api/servers/{server_id}/leave", headers=owner.headers)
    assert left.status_code == 204
    blocked = await client.post(f"/api/servers/{server_id}/leave", headers=guest.headers)
    assert blocked.status_code == 409


async def test_only_owner_deletes_and_subscriptions_end(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner, admin = await make_person(state, "Own"), await make_person(state, "Adm")
    server_id, general = await make_server(state, owner, {admin: "ADMIN"})
    events = record_room_events(state)
    url = f"/api/servers/{server_id}"
    assert (await client.delete(url, headers=admin.headers)).status_code == 403
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    assert events.revoked == [({general}, None, "deleted")]
    assert (await client.get(url, headers=owner.headers)).status_code == 404
    async with state.postgres.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 0


async def test_no_event_when_the_change_is_refused(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    events = record_room_events(state)
    await client.post(f"/api/servers/{server_id}/leave", headers=owner.headers)
    assert events.revoked == []


# --- validation -------------------------------------------------------------

BAD_NAMES = ["", "   ", "a" * 101, "nul\x00byte", "\ud800", None, 5, ["x"], {"a": 1}, "tab\tname"]
BAD_URLS = ["ftp://example.com/a.png", "javascript:alert(1)", "example.com/a.png",
            "http://", "https://" + "a" * 2048 + ".com", "http://exa mple.com",
            "http://[::1", "http://x\x00y", 7]  # fmt: skip


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_server_name_is_validated(
    client: httpx.AsyncClient, state: AppState, name: object
) -> None:
    import json

    ada = await make_person(state)
    response = await client.post(
        "/api/servers",
        content=json.dumps({"name": name}),
        headers={**ada.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"
    assert response.json()["detail"].startswith("name")


@pytest.mark.parametrize("url", BAD_URLS)
async def test_server_image_url_is_validated(
    client: httpx.AsyncClient, state: AppState, url: object
) -> None:
    ada = await make_person(state)
    response = await client.post(
        "/api/servers", json={"name": "ok", "imageUrl": url}, headers=ada.headers
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("imageUrl")


async def test_name_of_exactly_100_characters_is_accepted(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state)
    server = await create_server(client, ada, name="é" * 100)
    assert server["name"] == "é" * 100


@pytest.mark.parametrize("server_id", ["not-a-uuid", "1", "%00", "0" * 100])
async def test_malformed_server_ids_are_404(
    client: httpx.AsyncClient, state: AppState, server_id: str
) -> None:
    ada = await make_person(state)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, f"/api/servers/{server_id}", json={}, headers=ada.headers
        )
        assert response.status_code == 404, (method, response.text)


async def test_bodies_that_are_not_objects_are_422(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state)
    headers = {**ada.headers, "Content-Type": "application/json"}
    for content in ("[]", "null", '"x"', "", "1e999999"):
        response = await client.post("/api/servers", content=content, headers=headers)
        assert response.status_code == 422, (content, response.text)
    # Not JSON at all is 400 (issue 15), not a validation error.
    response = await client.post("/api/servers", content="{", headers=headers)
    assert response.status_code == 400, response.text
