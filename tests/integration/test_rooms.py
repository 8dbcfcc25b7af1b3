"""Rooms through the HTTP API: DM get-or-create, group rules, reading any room."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from parley.state import AppState
from parley.storage.postgres.models import Conversation, GroupConversation, ReplayEntry
from tests.factories import (
    Person,
    make_dm,
    make_group,
    make_person,
    make_server,
    record_room_events,
)


async def open_dm(client: httpx.AsyncClient, caller: Person, other: object) -> httpx.Response:
    return await client.post(
        "/api/rooms", json={"type": "dm", "profileId": str(other)}, headers=caller.headers
    )


async def new_group(
    client: httpx.AsyncClient, caller: Person, others: list[Person], **body: object
) -> httpx.Response:
    return await client.post(
        "/api/rooms",
        json={"type": "group", "profileIds": [str(p.id) for p in others], **body},
        headers=caller.headers,
    )


async def people(state: AppState, count: int, *, together: bool = True) -> list[Person]:
    """`count` people, all members of one server when `together`."""
    crowd = [await make_person(state, f"P{i}") for i in range(count)]
    if together:
        await make_server(state, crowd[0], {p: "GUEST" for p in crowd[1:]})
    return crowd


async def count_rows(state: AppState, model: type, **where: object) -> int:
    async with state.postgres.sessionmaker() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(await session.scalar(query) or 0)


# --- DMs ---------------------------------------------------------------------


async def test_dm_is_created_once_in_either_direction(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await people(state, 2)
    first = await open_dm(client, ada, bob.id)
    assert first.status_code == 201, first.text
    room = first.json()
    assert room["type"] == "dm"
    assert room["name"] == bob.name
    assert {m["profileId"] for m in room["members"]} == {str(ada.id), str(bob.id)}
    assert all(m["role"] is None for m in room["members"])
    again = await open_dm(client, ada, bob.id)
    reverse = await open_dm(client, bob, ada.id)
    assert again.status_code == reverse.status_code == 200
    assert again.json()["id"] == reverse.json()["id"] == room["id"]
    assert reverse.json()["name"] == ada.name
    assert await count_rows(state, Conversation) == 1
    room_id = uuid.UUID(room["id"])
    assert await count_rows(state, ReplayEntry, kind="conversation", entity_id=room_id) == 1


async def test_concurrent_dm_opens_create_one_conversation(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await people(state, 2)
    responses = await asyncio.gather(
        *[open_dm(client, ada, bob.id) for _ in range(3)],
        *[open_dm(client, bob, ada.id) for _ in range(3)],
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_rows(state, Conversation) == 1
    assert await count_rows(state, ReplayEntry, kind="conversation") == 1


async def test_dm_with_yourself_is_422(client: httpx.AsyncClient, state: AppState) -> None:
    [ada] = await people(state, 1)
    response = await open_dm(client, ada, ada.id)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("profileId")


async def test_dm_needs_a_shared_server(client: httpx.AsyncClient, state: AppState) -> None:
    ada, eve = await people(state, 2, together=False)
    await make_server(state, ada)
    await make_server(state, eve)
    assert (await open_dm(client, ada, eve.id)).status_code == 404
    assert (await open_dm(client, ada, uuid.uuid4())).status_code == 404
    assert await count_rows(state, Conversation) == 0


async def test_existing_dm_survives_leaving_the_shared_server(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    server_id, _ = await make_server(state, ada, {bob: "GUEST"})
    room_id = (await open_dm(client, ada, bob.id)).json()["id"]
    await client.post(f"/api/servers/{server_id}/leave", headers=bob.headers)
    assert (await client.get(f"/api/rooms/{room_id}", headers=bob.headers)).status_code == 200
    reopened = await open_dm(client, bob, ada.id)
    assert reopened.status_code == 200
    assert reopened.json()["id"] == room_id


async def test_a_dm_cannot_be_changed_or_left(client: httpx.AsyncClient, state: AppState) -> None:
    ada, bob = await people(state, 2)
    room_id = await make_dm(state, ada, bob)
    url = f"/api/rooms/{room_id}"
    assert (await client.patch(url, json={"name": "x"}, headers=ada.headers)).status_code == 403
    add = await client.post(
        f"{url}/members", json={"profileIds": [str(bob.id)]}, headers=ada.headers
    )
    assert add.status_code == 403
    leave = await client.delete(f"{url}/members/{ada.id}", headers=ada.headers)
    assert leave.status_code == 403
    assert (await client.delete(url, headers=ada.headers)).status_code == 405
    assert await count_rows(state, Conversation) == 1


# --- groups ------------------------------------------------------------------


async def test_group_creator_is_admin(client: httpx.AsyncClient, state: AppState) -> None:
    ada, bob, cy = await people(state, 3)
    response = await new_group(client, ada, [bob, cy], name=" Trio ")
    assert response.status_code == 201, response.text
    room = response.json()
    assert (room["type"], room["name"], room["imageUrl"]) == ("group", "Trio", None)
    roles = {m["profileId"]: m["role"] for m in room["members"]}
    assert roles == {str(ada.id): "ADMIN", str(bob.id): "GUEST", str(cy.id): "GUEST"}
    for person in (ada, bob, cy):
        seen = await client.get(f"/api/rooms/{room['id']}", headers=person.headers)
        assert seen.status_code == 200
        assert seen.json() == room


async def test_a_group_list_names_each_person_once(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """`profileIds` is `uniqueItems` in the schema, so a repeat is a 422."""
    ada, bob, cy = await people(state, 3)
    response = await new_group(client, ada, [bob, cy, bob])
    assert response.status_code == 422
    assert response.json()["detail"] == "group.profileIds: must not repeat an item"


@pytest.mark.parametrize("others", [0, 1, 10])
async def test_group_needs_two_to_nine_others(
    client: httpx.AsyncClient, state: AppState, others: int
) -> None:
    crowd = await people(state, 11)
    response = await new_group(client, crowd[0], crowd[1 : 1 + others])
    assert response.status_code == 422
    assert response.json()["detail"].startswith("group.profileIds: ")


async def test_group_of_nine_others_is_allowed(client: httpx.AsyncClient, state: AppState) -> None:
    crowd = await people(state, 10)
    response = await new_group(client, crowd[0], crowd[1:])
    assert response.status_code == 201
    assert len(response.json()["members"]) == 10


async def test_group_cannot_include_the_creator(client: httpx.AsyncClient, state: AppState) -> None:
    ada, bob, cy = await people(state, 3)
    assert (await new_group(client, ada, [ada, bob, cy])).status_code == 422


async def test_group_members_must_share_a_server_with_the_creator(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await people(state, 2)
    eve = await make_person(state, "Eve")
    response = await new_group(client, ada, [bob, eve])
    assert response.status_code == 404
    assert await count_rows(state, GroupConversation) == 0


async def test_only_group_admin_renames(client: httpx.AsyncClient, state: AppState) -> None:
    ada, bob, cy = await people(state, 3)
    room_id = await make_group(state, ada, [bob, cy])
    url = f"/api/rooms/{room_id}"
    assert (await client.patch(url, json={"name": "x"}, headers=bob.headers)).status_code == 403
    renamed = await client.patch(
        url, json={"name": "Team", "imageUrl": "https://example.com/t.png"}, headers=ada.headers
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["imageUrl"]) == (
        "Team", "https://example.com/t.png"
    )  # fmt: skip
    cleared = await client.patch(url, json={"name": None}, headers=ada.headers)
    assert cleared.json()["name"] is None
    assert cleared.json()["imageUrl"] == "https://example.com/t.png"


async def test_admin_adds_members_up_to_ten(client: httpx.AsyncClient, state: AppState) -> None:
    crowd = await people(state, 12)
    admin = crowd[0]
    room_id = await make_group(state, admin, crowd[1:3])
    url = f"/api/rooms/{room_id}/members"
    body = {"profileIds": [str(p.id) for p in crowd[2:5]]}  # one already in
    refused = await client.post(url, json=body, headers=crowd[1].headers)
    assert refused.status_code == 403
    added = await client.post(url, json=body, headers=admin.headers)
    assert added.status_code == 200
    assert len(added.json()["members"]) == 5
    full = {"profileIds": [str(p.id) for p in crowd[5:11]]}  # 5 + 6 > 10
    too_many = await client.post(url, json=full, headers=admin.headers)
    assert too_many.status_code == 409
    assert too_many.json()["error"] == "GroupFull"
    fits = {"profileIds": [str(p.id) for p in crowd[5:10]]}
    assert len((await client.post(url, json=fits, headers=admin.headers)).json()["members"]) == 10
    stranger = await make_person(state, "Str")
    await make_server(state, stranger)
    unknown = {"profileIds": [str(stranger.id)]}
    assert (await client.post(url, json=unknown, headers=admin.headers)).status_code == 404


async def test_removal_rules_and_last_member_deletes_the_group(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob, cy = await people(state, 3)
    room_id = await make_group(state, ada, [bob, cy])
    events = record_room_events(state)

    async def remove(caller: Person, target: Person) -> int:
        url = f"/api/rooms/{room_id}/members/{target.id}"
        return (await client.delete(url, headers=caller.headers)).status_code

    assert await remove(bob, cy) == 403  # guests remove only themselves
    assert await remove(ada, cy) == 204
    assert events.revoked[-1] == ({room_id}, cy.id, "removed")
    assert await remove(ada, cy) == 404
    assert await remove(cy, bob) == 404  # no longer in the group
    assert await remove(ada, ada) == 204  # the last ADMIN leaves: bob takes over
    assert events.revoked[-1] == ({room_id}, ada.id, "left")
    room = await client.get(f"/api/rooms/{room_id}", headers=bob.headers)
    assert [(m["profileId"], m["role"]) for m in room.json()["members"]] == [(str(bob.id), "ADMIN")]
    assert await remove(bob, bob) == 204
    assert events.revoked[-1] == ({room_id}, None, "deleted")
    assert await count_rows(state, GroupConversation) == 0


# --- reading rooms -----------------------------------------------------------


async def test_list_rooms_shows_dms_and_groups_newest_first(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob, cy = await people(state, 3)
    eve = await make_person(state, "Eve")
    await make_dm(state, ada, bob)
    group_id = await make_group(state, ada, [bob, cy])
    await make_group(state, eve, [bob, cy])  # not Ada's
    listed = await client.get("/api/rooms", headers=ada.headers)
    assert listed.status_code == 200
    rooms = listed.json()
    assert [(r["type"], r["name"]) for r in rooms] == [("group", "grp"), ("dm", bob.name)]
    assert rooms[0]["id"] == str(group_id)
    assert set(rooms[0]) >= {"id", "type", "name", "imageUrl", "members", "createdAt"}
    assert (await client.get("/api/rooms", headers=eve.headers)).json()[0]["type"] == "group"


async def test_channel_room_names_its_server(client: httpx.AsyncClient, state: AppState) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    server_id, general = await make_server(state, ada)
    room = await client.get(f"/api/rooms/{general}", headers=ada.headers)
    assert room.status_code == 200
    body = room.json()
    assert (body["type"], body["name"], body["serverId"], body["channelType"]) == (
        "channel", "general", str(server_id), "TEXT"
    )  # fmt: skip
    assert (await client.get(f"/api/rooms/{general}", headers=bob.headers)).status_code == 404


@pytest.mark.parametrize("room_id", ["abc", str(uuid.uuid4()), "%00", "9" * 100])
async def test_unknown_or_malformed_room_ids_are_404(
    client: httpx.AsyncClient, state: AppState, room_id: str
) -> None:
    [ada] = await people(state, 1)
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("POST", "/members", {"profileIds": [str(ada.id)]}),
        ("DELETE", f"/members/{ada.id}", None),
        ("DELETE", "/members/nope", None),
    ]:
        response = await client.request(
            method, f"/api/rooms/{room_id}{path}", json=body, headers=ada.headers
        )
        assert response.status_code == 404, (method, path, response.text)


# --- validation --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "channel", "profileId": "x"},
        {"type": "dm"},
        {"type": "dm", "profileId": "not-a-uuid"},
        {"type": "dm", "profileId": None},
        {"type": "dm", "profileId": 12},
        {"type": "group"},
        {"type": "group", "profileIds": "abc"},
        {"type": "group", "profileIds": ["nope", "nope2"]},
        {"type": "group", "profileIds": [str(uuid.uuid4())] * 51},
        {"type": "group", "profileIds": [], "name": "x" * 101},
        {"type": "group", "profileIds": [], "name": "\x00"},
        {"type": "group", "profileIds": [], "imageUrl": "file:///etc/passwd"},
        {"type": None},
        {"type": ["dm"]},
    ],
)
async def test_new_room_body_is_validated(
    client: httpx.AsyncClient, state: AppState, body: dict[str, object]
) -> None:
    [ada] = await people(state, 1)
    response = await client.post("/api/rooms", json=body, headers=ada.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"name": ""}),
        ("", {"name": "\x00"}),
        ("", {"imageUrl": "data:image/png;base64,AAAA"}),
        ("/members", {}),
        ("/members", {"profileIds": []}),
        ("/members", {"profileIds": ["x"]}),
        ("/members", {"profileIds": None}),
    ],
)
async def test_group_change_bodies_are_validated(
    client: httpx.AsyncClient, state: AppState, path: str, body: dict[str, object]
) -> None:
    ada, bob, cy = await people(state, 3)
    room_id = await make_group(state, ada, [bob, cy])
    method = "PATCH" if path == "" else "POST"
    response = await client.request(
        method, f"/api/rooms/{room_id}{path}", json=body, headers=ada.headers
    )
    assert response.status_code == 422, response.text
