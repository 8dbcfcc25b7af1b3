"""`GET /api/rooms/{id}/changes` on healthy stores, in every room kind: edits and
deletes of old messages are reported, paging moves forward with `more`, a
realtime event's cursor resumes the feed, a change stamped by a slow clock is
not skipped within the overlap, bad cursors are 422 and outsiders get 404."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from parley.state import AppState
from parley.storage.records import MessageRecord, now_ms
from tests.factories import Person, make_dm, make_group, make_person, make_server
from tests.integration.test_realtime_support import client as ws_client
from tests.integration.test_realtime_support import serving

Feed = list[dict[str, Any]]


def uuid7_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 made by a clock that reads `moment`."""
    ms = int(moment.timestamp() * 1000)
    bits = (ms << 80) | (0x7 << 76) | (secrets.randbits(12) << 64)
    return uuid.UUID(int=bits | (0b10 << 62) | secrets.randbits(62))


def with_overlap(state: AppState, seconds: float) -> None:
    """The feed's overlap for this test (read per request)."""
    state.settings = state.settings.model_copy(update={"changes_overlap": seconds})


async def rooms_of(state: AppState) -> tuple[Person, Person, dict[str, uuid.UUID]]:
    """Ada and Bob, and a DM, a channel and a group they are both in."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    _, channel = await make_server(state, ada, {bob: "GUEST"})
    rooms = {
        "dm": await make_dm(state, ada, bob),
        "channel": channel,
        "group": await make_group(state, ada, [bob]),
    }
    return ada, bob, rooms


async def changes(
    client: httpx.AsyncClient, person: Person, room: uuid.UUID, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/api/rooms/{room}/changes", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "cursor", "more"}
    return body


async def follow(
    client: httpx.AsyncClient, person: Person, room: uuid.UUID, since: str | None, limit: int = 50
) -> tuple[Feed, str]:
    """Every page of one pass (until `more` is false): the items, the last cursor."""
    items: Feed = []
    params: dict[str, Any] = {"limit": limit} | ({"since": since} if since else {})
    while True:
        body = await changes(client, person, room, **params)
        items += body["items"]
        params["since"] = body["cursor"]
        if not body["more"]:
            return items, body["cursor"]


def in_version_order(items: Feed) -> bool:
    versions = [(item["updatedAt"], item["id"]) for item in items]
    return versions == sorted(versions)


def newest_by_id(items: Feed) -> dict[str, dict[str, Any]]:
    """What a client holds after applying the items: newest updatedAt per id."""
    held: dict[str, dict[str, Any]] = {}
    for item in items:
        known = held.get(item["id"])
        if known is None or item["updatedAt"] >= known["updatedAt"]:
            held[item["id"]] = item
    return held


async def send(client: httpx.AsyncClient, person: Person, room: uuid.UUID, text: str) -> str:
    response = await client.post(
        f"/api/rooms/{room}/messages", json={"content": text}, headers=person.headers
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["id"]
    return message_id


async def listed(client: httpx.AsyncClient, person: Person, room: uuid.UUID) -> Feed:
    response = await client.get(f"/api/rooms/{room}/messages", headers=person.headers)
    items: Feed = response.json()["items"]
    return items


@pytest.mark.parametrize("kind", ["dm", "channel", "group"])
async def test_edits_and_deletes_of_old_messages_are_in_the_feed(
    kind: str, client: httpx.AsyncClient, state: AppState
) -> None:
    with_overlap(state, 0.0)
    ada, bob, rooms = await rooms_of(state)
    room, url = rooms[kind], f"/api/rooms/{rooms[kind]}/messages"
    ids = [await send(client, ada, room, f"m{i}") for i in range(4)]

    first, cursor = await follow(client, bob, room, None)
    assert [item["id"] for item in first] == ids  # from the beginning, oldest first
    assert first == list(reversed(await listed(client, bob, room)))  # as GET …/messages

    await asyncio.sleep(0.002)  # past the last change's millisecond
    edited = await client.patch(f"{url}/{ids[0]}", json={"content": "m0!"}, headers=ada.headers)
    deleted = await client.delete(f"{url}/{ids[1]}", headers=ada.headers)
    assert (edited.status_code, deleted.status_code) == (200, 200)
    later, _ = await follow(client, bob, room, cursor)
    assert in_version_order(later)
    # The edit and the tombstone, exactly as the API answered them. With no
    # overlap, only the versions of the cursor's own millisecond come back.
    assert [item for item in later if item not in first] == [edited.json(), deleted.json()]
    assert {item["updatedAt"] for item in later if item in first} <= {first[-1]["updatedAt"]}
    held = newest_by_id(first + later)
    assert held == {item["id"]: item for item in await listed(client, bob, room)}


@pytest.mark.parametrize("kind", ["dm", "channel", "group"])
async def test_paging_with_more_moves_forward(
    kind: str, client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob, rooms = await rooms_of(state)  # default overlap: every change is in it
    room = rooms[kind]
    ids = [await send(client, ada, room, f"m{i}") for i in range(7)]
    pages = []
    since: str | None = None
    for _ in range(5):
        body = await changes(client, bob, room, limit=3, **({"since": since} if since else {}))
        pages.append(([item["id"] for item in body["items"]], body["more"]))
        since = body["cursor"]
        if not body["more"]:
            break
    assert pages == [(ids[:3], True), (ids[3:6], True), (ids[6:], False)]
    # A new pass re-serves what is within the overlap (the client deduplicates),
    # and still ends.
    again, _ = await follow(client, bob, room, since, limit=3)
    assert [item["id"] for item in again] == ids


async def test_since_now_gives_a_cursor_for_what_comes_next(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob, rooms = await rooms_of(state)
    await send(client, ada, rooms["dm"], "before")
    now = await changes(client, bob, rooms["dm"], since="now")
    assert (now["items"], now["more"]) == ([], False)
    after = await send(client, ada, rooms["dm"], "after")
    items, _ = await follow(client, bob, rooms["dm"], now["cursor"])
    assert after in [item["id"] for item in items]


@pytest.fixture
async def base(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


@pytest.mark.parametrize("kind", ["dm", "group"])
async def test_an_event_cursor_resumes_after_that_event(
    kind: str, base: str, client: httpx.AsyncClient, state: AppState
) -> None:
    with_overlap(state, 0.0)
    ada, bob, rooms = await rooms_of(state)
    room = rooms[kind]
    old = [await send(client, ada, room, f"old {i}") for i in range(3)]
    await asyncio.sleep(0.002)
    async with ws_client(base, bob.token) as ws:
        assert (await ws.subscribe(room))["type"] == "subscribed"
        seen = await send(client, ada, room, "seen live")
        frame = await ws.expect("message.created", roomId=str(room))
        assert frame["message"]["id"] == seen
        cursor = frame["cursor"]
    # Bob goes away; meanwhile an old message is edited and a new one arrives.
    await asyncio.sleep(0.002)
    url = f"/api/rooms/{room}/messages"
    edit = await client.patch(f"{url}/{old[0]}", json={"content": "new"}, headers=ada.headers)
    missed = await send(client, ada, room, "missed")
    items, _ = await follow(client, bob, room, cursor)
    # Everything after the event, and nothing before it (no overlap here).
    assert [item["id"] for item in items] == [seen, old[0], missed]
    assert items[1] == edit.json()


async def test_a_slow_clock_write_within_the_overlap_is_not_skipped(
    client: httpx.AsyncClient, state: AppState
) -> None:
    with_overlap(state, 5.0)
    ada, bob, rooms = await rooms_of(state)
    room = rooms["dm"]
    latest = await send(client, ada, room, "from a good clock")
    seen, cursor = await follow(client, bob, room, None)
    assert [item["id"] for item in seen] == [latest]

    # Another instance, its clock 2 s behind, commits a DM after Bob's read; and
    # one a minute behind, beyond what the overlap promises.
    def stamped(seconds_behind: float) -> MessageRecord:
        at = now_ms() - timedelta(seconds=seconds_behind)
        message_id = uuid7_at(at)  # that instance's ids come from its clock too
        return MessageRecord(message_id, room, ada.id, "slow", None, False, str(message_id),
                             at, at)  # fmt: skip

    slow, very_slow = stamped(2), stamped(60)
    for record in (slow, very_slow):
        await state.replication.direct_messages.send(record, client_nonce=False)
    after_id = await client.get(
        f"/api/rooms/{room}/messages", params={"after": latest}, headers=bob.headers
    )
    assert str(slow.id) not in [item["id"] for item in after_id.json()["items"]]  # the old way

    items, _ = await follow(client, bob, room, cursor)
    returned = [item["id"] for item in items]
    assert str(slow.id) in returned
    assert str(very_slow.id) not in returned  # outside the documented bound
    assert in_version_order(items)


@pytest.mark.parametrize(
    "since",
    [
        "",
        "x",
        "not-a-cursor!",
        "eyJ2IjoxfQ",  # {"v":1}
        "eyJ2IjoxLCJtIjotMX0",  # {"v":1,"m":-1}
        "a" * 201,
        "a" * 1000,
    ],
)
async def test_a_malformed_cursor_is_422(
    since: str, client: httpx.AsyncClient, state: AppState
) -> None:
    _, bob, rooms = await rooms_of(state)
    response = await client.get(
        f"/api/rooms/{rooms['dm']}/changes", params={"since": since}, headers=bob.headers
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError" and body["detail"].startswith("since")


async def test_outsiders_get_404(client: httpx.AsyncClient, state: AppState) -> None:
    ada, _, rooms = await rooms_of(state)
    eve = await make_person(state, "Eve")
    for room in rooms.values():
        await send(client, ada, room, "secret")
    for room in [*rooms.values(), uuid.uuid4(), "not-an-id"]:
        response = await client.get(f"/api/rooms/{room}/changes", headers=eve.headers)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "NotFound", "detail": "No such room."}
    unauthenticated = await client.get(f"/api/rooms/{rooms['dm']}/changes")
    assert unauthenticated.status_code == 401
