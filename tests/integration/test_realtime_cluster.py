"""Two `parley serve` processes against the same databases: a subscriber on
instance A receives what is posted, edited and deleted through instance B, in
DMs, channels and groups, exactly once; a kicked member's subscription ends
across instances; a message too large for a NOTIFY still arrives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from parley.devstack.app_process import AppProcess
from parley.realtime.config import LISTEN_CHECK_INTERVAL
from parley.settings import Settings
from parley.state import AppState
from parley.storage.postgres.models import Member
from tests.factories import Person, make_dm, make_group, make_person, make_server
from tests.integration.test_realtime_support import (
    Client,
    client,
    parley_process,
    post_json,
    ws_url,
)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("realtime-cluster"))


@pytest.fixture(scope="module")
def cluster(migrated: Settings, logs: Path) -> Iterator[list[str]]:
    with (
        parley_process(migrated, str(logs / "a.log")) as a,
        parley_process(migrated, str(logs / "b.log")) as b,
    ):
        yield [a, b]


async def send(base: str, person: Person, room: uuid.UUID, content: str) -> dict[str, Any]:
    response = await post_json(
        base, f"/api/rooms/{room}/messages", person.token, {"content": content}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def edit(
    base: str, person: Person, room: uuid.UUID, mid: str, content: str
) -> dict[str, Any]:
    response = await post_json(
        base, f"/api/rooms/{room}/messages/{mid}", person.token, {"content": content}, "PATCH"
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def delete(base: str, person: Person, room: uuid.UUID, mid: str) -> dict[str, Any]:
    response = await post_json(
        base, f"/api/rooms/{room}/messages/{mid}", person.token, {}, "DELETE"
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def expect_message(c: Client, type_: str, room: uuid.UUID, body: dict[str, Any]) -> None:
    frame = await c.expect(type_, timeout=5, roomId=str(room))
    assert frame["message"] == body


async def test_events_cross_instances_exactly_once(cluster: list[str], state: AppState) -> None:
    a, b = cluster
    ada, bob, cy = [await make_person(state, n) for n in ("Ada", "Bob", "Cy")]
    dm = await make_dm(state, ada, bob)
    _, channel = await make_server(state, ada, {bob: "GUEST"})
    group = await make_group(state, ada, [bob, cy])
    async with client(a, ada.token) as on_a, client(b, bob.token) as on_b:
        for room in (dm, channel, group):
            assert (await on_a.subscribe(room))["type"] == "subscribed"
            assert (await on_b.subscribe(room))["type"] == "subscribed"
        for room in (dm, channel, group):
            created = await send(b, bob, room, f"hello {room}")
            edited = await edit(b, bob, room, created["id"], "edited")
            deleted = await delete(b, bob, room, created["id"])
            assert deleted["deleted"] is True
            for c in (on_a, on_b):
                await expect_message(c, "message.created", room, created)
                await expect_message(c, "message.updated", room, edited)
                await expect_message(c, "message.deleted", room, deleted)
        # ... and the other way round: A's own writes reach B.
        reply = await send(a, ada, dm, "from A")
        await expect_message(on_b, "message.created", dm, reply)
        await expect_message(on_a, "message.created", dm, reply)
        # Nothing twice: no NOTIFY echo is delivered on top of the in-process event.
        await on_a.nothing(0.5)
        await on_b.nothing(0.1)


async def test_kicked_member_stops_receiving_on_another_instance(
    cluster: list[str], state: AppState
) -> None:
    a, b = cluster
    ada, bob, cy = [await make_person(state, n) for n in ("Ada", "Bob", "Cy")]
    server_id, channel = await make_server(state, ada, {bob: "GUEST", cy: "GUEST"})
    async with state.postgres.sessionmaker() as session:
        cy_member = await session.scalar(
            select(Member.id).where(Member.server_id == server_id, Member.profile_id == cy.id)
        )
    async with client(a, cy.token) as cy_on_a, client(a, bob.token) as bob_on_a:
        await cy_on_a.subscribe(channel)
        await bob_on_a.subscribe(channel)
        kicked = await post_json(b, f"/api/members/{cy_member}", ada.token, {}, "DELETE")
        assert kicked.status_code == 204, kicked.text
        await cy_on_a.expect("subscription.ended", roomId=str(channel), reason="kicked")
        after = await send(b, bob, channel, "after the kick")
        await expect_message(bob_on_a, "message.created", channel, after)
        await cy_on_a.nothing(0.5)
        assert (await cy_on_a.subscribe(channel))["error"] == "NotFound"


async def test_message_too_large_for_notify_is_loaded(cluster: list[str], state: AppState) -> None:
    a, b = cluster
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    async with client(a, ada.token) as on_a:
        await on_a.subscribe(dm)
        # 4,000 characters of 4-byte UTF-8: 16 kB, twice what a NOTIFY may carry.
        created = await send(b, bob, dm, "\N{GRINNING FACE}" * 4000)
        await expect_message(on_a, "message.created", dm, created)


async def test_removal_and_deletion_end_subscriptions_on_every_instance(
    cluster: list[str], state: AppState
) -> None:
    a, b = cluster
    ada, bob, cy = [await make_person(state, n) for n in ("Ada", "Bob", "Cy")]
    server_id, channel = await make_server(state, ada, {bob: "GUEST"})
    group = await make_group(state, ada, [bob, cy])
    async with client(a, bob.token) as bob_on_a, client(b, cy.token) as cy_on_b:
        await bob_on_a.subscribe(channel)
        await bob_on_a.subscribe(group)
        await cy_on_b.subscribe(group)
        removed = await post_json(
            b, f"/api/rooms/{group}/members/{bob.id}", ada.token, {}, "DELETE"
        )
        assert removed.status_code == 204, removed.text
        await bob_on_a.expect("subscription.ended", roomId=str(group), reason="removed")
        still = await send(a, ada, group, "Bob is gone")
        await expect_message(cy_on_b, "message.created", group, still)

        deleted = await post_json(a, f"/api/servers/{server_id}", ada.token, {}, "DELETE")
        assert deleted.status_code == 204, deleted.text
        await bob_on_a.expect("subscription.ended", roomId=str(channel), reason="deleted")
        await bob_on_a.nothing(0.3)
        await cy_on_b.nothing(0.1)


async def test_query_token_is_not_logged(cluster: list[str], logs: Path, state: AppState) -> None:
    a, _ = cluster
    ada = await make_person(state)
    async with connect(ws_url(a, f"token={ada.token}")) as ws:
        await Client(ws).expect("authenticated")
    log = (logs / "a.log").read_text()
    assert "token=[redacted]" in log
    assert ada.token not in log


async def test_an_instance_killed_after_acknowledging_leaves_a_resync_behind(
    migrated: Settings, logs: Path, state: AppState
) -> None:
    """Issue 12: an instance killed between acknowledging a write and sending
    its event takes the event with it. Subscribers elsewhere cannot get it, so
    they get a `resync` (reason `instance_lost`) and fill the gap over REST. An
    instance that stops cleanly sends what it has and says goodbye: no resync."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    doomed, calm, survivor = (AppProcess(migrated, logs) for _ in range(3))
    for process in (doomed, calm, survivor):
        process.start()
    try:
        async with client(survivor.url, bob.token) as on_survivor:
            assert (await on_survivor.subscribe(dm))["type"] == "subscribed"
            calm.stop()
            await on_survivor.nothing(2 * LISTEN_CHECK_INTERVAL + 1)
            doomed.kill()
            frame = await on_survivor.expect("resync", timeout=2 * LISTEN_CHECK_INTERVAL + 5)
            assert frame == {"type": "resync", "roomId": str(dm), "reason": "instance_lost"}
    finally:
        for process in (doomed, calm, survivor):
            process.stop()
