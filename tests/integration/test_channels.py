"""Channels through the HTTP API: unique names, the fixed `general` channel,
and who may manage them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from parley.state import AppState
from tests.factories import (
    Person,
    make_channel_message,
    make_person,
    make_server,
    record_room_events,
)


async def new_channel(
    client: httpx.AsyncClient, person: Person, server_id: uuid.UUID, **body: object
) -> httpx.Response:
    return await client.post(
        f"/api/servers/{server_id}/channels",
        json={"name": "random", **body},
        headers=person.headers,
    )


async def test_create_rename_retype_delete(client: httpx.AsyncClient, state: AppState) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    created = await new_channel(client, owner, server_id, name="  voice ", type="AUDIO")
    assert created.status_code == 201
    channel = created.json()
    assert (channel["name"], channel["type"], channel["serverId"]) == (
        "voice", "AUDIO", str(server_id)
    )  # fmt: skip
    url = f"/api/channels/{channel['id']}"
    renamed = await client.patch(url, json={"name": "talk"}, headers=owner.headers)
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["type"]) == ("talk", "AUDIO")
    retyped = await client.patch(url, json={"type": "VIDEO"}, headers=owner.headers)
    assert (retyped.json()["name"], retyped.json()["type"]) == ("talk", "VIDEO")
    same = await client.patch(url, json={"name": "talk"}, headers=owner.headers)
    assert same.status_code == 200
    detail = await client.get(f"/api/servers/{server_id}", headers=owner.headers)
    assert [c["name"] for c in detail.json()["channels"]] == ["general", "talk"]
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    assert (await client.delete(url, headers=owner.headers)).status_code == 404


async def test_type_defaults_to_text(client: httpx.AsyncClient, state: AppState) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    assert (await new_channel(client, owner, server_id)).json()["type"] == "TEXT"


async def test_names_are_unique_in_a_server_only(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner = await make_person(state)
    first, _ = await make_server(state, owner)
    second, _ = await make_server(state, owner)
    assert (await new_channel(client, owner, first)).status_code == 201
    clash = await new_channel(client, owner, first)
    assert clash.status_code == 409
    assert clash.json()["error"] == "ChannelNameTaken"
    assert (await new_channel(client, owner, second)).status_code == 201
    other = await new_channel(client, owner, first, name="other")
    rename = await client.patch(
        f"/api/channels/{other.json()['id']}", json={"name": "random"}, headers=owner.headers
    )
    assert rename.status_code == 409
    assert rename.json()["error"] == "ChannelNameTaken"


@pytest.mark.parametrize("name", ["general", "General", " GENERAL "])
async def test_general_cannot_be_created(
    client: httpx.AsyncClient, state: AppState, name: str
) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    response = await new_channel(client, owner, server_id, name=name)
    assert response.status_code == 409
    assert response.json()["error"] == "GeneralChannel"


@pytest.mark.parametrize("body", [{"name": "lobby"}, {"type": "AUDIO"}, {"name": "general"}])
async def test_general_cannot_be_changed(
    client: httpx.AsyncClient, state: AppState, body: dict[str, str]
) -> None:
    owner = await make_person(state)
    _, general = await make_server(state, owner)
    response = await client.patch(f"/api/channels/{general}", json=body, headers=owner.headers)
    assert response.status_code == 409
    assert response.json()["error"] == "GeneralChannel"


async def test_general_cannot_be_deleted_nor_another_renamed_to_it(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner = await make_person(state)
    server_id, general = await make_server(state, owner)
    assert (
        await client.delete(f"/api/channels/{general}", headers=owner.headers)
    ).status_code == 409
    other = (await new_channel(client, owner, server_id)).json()
    response = await client.patch(
        f"/api/channels/{other['id']}", json={"name": "General"}, headers=owner.headers
    )
    assert response.status_code == 409


async def test_deleting_a_channel_ends_subscriptions_and_removes_its_messages(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    channel = (await new_channel(client, owner, server_id)).json()
    await make_channel_message(state, server_id, uuid.UUID(channel["id"]), owner)
    events = record_room_events(state)
    response = await client.delete(f"/api/channels/{channel['id']}", headers=owner.headers)
    assert response.status_code == 204
    assert events.revoked == [({uuid.UUID(channel["id"])}, None, "deleted")]
    room = await client.get(f"/api/rooms/{channel['id']}", headers=owner.headers)
    assert room.status_code == 404


async def test_staff_of_another_server_cannot_touch_this_servers_channels(
    client: httpx.AsyncClient, state: AppState
) -> None:
    owner, stranger = await make_person(state, "Own"), await make_person(state, "Str")
    server_id, _ = await make_server(state, owner)
    await make_server(state, stranger)
    channel = (await new_channel(client, owner, server_id)).json()
    url = f"/api/channels/{channel['id']}"
    assert (
        await client.patch(url, json={"name": "x"}, headers=stranger.headers)
    ).status_code == 404
    assert (await client.delete(url, headers=stranger.headers)).status_code == 404


# --- validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ok", "type": "TEXTY"},
        {"name": "ok", "type": None},
        {"name": "ok", "type": 1},
        {"name": "x" * 101},
        {"name": "bad\x00name"},
        {"name": ""},
        {"type": "TEXT"},
        {"name": None},
    ],
)
async def test_new_channel_body_is_validated(
    client: httpx.AsyncClient, state: AppState, body: dict[str, object]
) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    response = await client.post(
        f"/api/servers/{server_id}/channels", json=body, headers=owner.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"


@pytest.mark.parametrize(
    "body",
    [{"name": None}, {"type": None}, {"type": "text"}, {"name": "  "}, {"name": "a\x00"}],
)
async def test_channel_changes_are_validated(
    client: httpx.AsyncClient, state: AppState, body: dict[str, object]
) -> None:
    owner = await make_person(state)
    server_id, _ = await make_server(state, owner)
    channel = (await new_channel(client, owner, server_id)).json()
    response = await client.patch(
        f"/api/channels/{channel['id']}", json=body, headers=owner.headers
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("channel_id", ["nope", str(uuid.uuid4()), "%00", "1" * 200])
async def test_unknown_or_malformed_channel_ids_are_404(
    client: httpx.AsyncClient, state: AppState, channel_id: str
) -> None:
    owner = await make_person(state)
    await make_server(state, owner)
    url = f"/api/channels/{channel_id}"
    assert (await client.patch(url, json={"name": "x"}, headers=owner.headers)).status_code == 404
    assert (await client.delete(url, headers=owner.headers)).status_code == 404
