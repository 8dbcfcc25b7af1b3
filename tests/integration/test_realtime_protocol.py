"""The realtime protocol against a real uvicorn server on loopback: auth,
malformed frames, ping/pong, subscribe authorisation, delivery, revocation,
slow consumers and heartbeats. Events are published through the instance's
`RoomEvents` directly, as the message and community services do after commit."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, text
from websockets.asyncio.client import connect

from parley.app import create_app
from parley.auth.tokens import issue_token
from parley.realtime.lifecycle import Realtime
from parley.realtime.schemas import CloseCode
from parley.realtime.transport import PgNotifyTransport
from parley.state import AppState
from parley.storage.postgres.models import Member
from tests.factories import make_dm, make_group, make_person, make_server
from tests.integration.test_realtime_support import Client, client, serving, ws_url
from tests.support import eventually


@pytest.fixture
async def base(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


def realtime_of(state: AppState) -> Realtime:
    realtime: Realtime = state.realtime
    return realtime


def tune(state: AppState, **changes: Any) -> None:
    realtime = realtime_of(state)
    realtime.config = dataclasses.replace(realtime.config, **changes)


def message(room_id: uuid.UUID, content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "roomId": str(room_id),
        "content": content,
        "fileUrl": None,
        "deleted": False,
        "createdAt": "2026-11-26T05:00:00.000Z",
        "updatedAt": "2026-11-26T05:00:00.000Z",
        "author": {"id": str(uuid.uuid4()), "name": "Ada", "imageUrl": None},
        **extra,
    }


async def test_auth_with_first_frame(base: str, state: AppState) -> None:
    ada = await make_person(state)
    async with client(base) as c:
        await c.send({"op": "auth", "token": ada.token})
        assert await c.expect("authenticated") == {
            "type": "authenticated",
            "profileId": str(ada.id),
            "instance": state.instance_id,
        }
        await c.send({"op": "ping"})
        await c.expect("pong")


async def test_auth_with_query_parameter(base: str, state: AppState) -> None:
    ada = await make_person(state)
    async with connect(ws_url(base, f"token={ada.token}")) as ws:
        c = Client(ws)
        await c.expect("authenticated", profileId=str(ada.id))


@pytest.mark.parametrize(
    "first",
    [
        {"op": "auth", "token": "not-a-jwt"},
        {"op": "subscribe", "roomId": str(uuid.uuid4())},
        "{not json",
    ],
)
async def test_bad_auth_closes_4001(base: str, first: dict[str, Any] | str) -> None:
    async with client(base) as c:
        await c.send(first)
        assert await c.closed_with() == CloseCode.UNAUTHORIZED


async def test_token_signed_with_another_key_or_expired(base: str, state: AppState) -> None:
    forged = issue_token(uuid.uuid4(), "another-secret-that-is-long-enough-0123", 60)
    expired = issue_token(uuid.uuid4(), state.settings.jwt_secret.get_secret_value(), -10)
    for token in (forged, expired):
        async with connect(ws_url(base, f"token={token}")) as ws:
            assert await Client(ws).closed_with() == CloseCode.UNAUTHORIZED


async def test_auth_timeout_closes_4008(base: str, state: AppState) -> None:
    tune(state, auth_timeout=0.3)
    started = time.monotonic()
    async with client(base) as c:
        assert await c.closed_with() == CloseCode.AUTH_TIMEOUT
    assert time.monotonic() - started < 3


async def test_malformed_frames_get_errors_and_keep_the_connection(
    base: str, state: AppState
) -> None:
    ada = await make_person(state)
    frames: list[dict[str, Any] | str] = [
        "not json",
        "[1, 2]",
        {"op": "dance"},
        {"no": "op"},
        {"op": "subscribe"},
        {"op": "subscribe", "roomId": "not-a-uuid"},
        {"op": "subscribe", "roomId": 42},
        "x" * 10_000,
    ]
    async with client(base, ada.token) as c:
        for frame in frames:
            await c.send(frame)
            error = await c.expect("error")
            assert error["error"] == "BadRequest"
            assert error["detail"]
        await c.ws.send(b"\x00\x01")
        assert (await c.expect("error"))["error"] == "BadRequest"
        await c.send({"op": "auth", "token": ada.token})
        assert (await c.expect("error"))["error"] == "BadRequest"
        await c.send({"op": "ping"})
        await c.expect("pong")


async def test_subscriptions_are_authorised(base: str, state: AppState) -> None:
    ada, bob, eve = [await make_person(state, n) for n in ("Ada", "Bob", "Eve")]
    dm = await make_dm(state, ada, bob)
    _, channel = await make_server(state, ada, {bob: "GUEST"})
    group = await make_group(state, ada, [bob])
    async with client(base, eve.token) as c:
        for room in (dm, channel, group, uuid.uuid4()):
            assert await c.subscribe(room) == {
                "type": "error",
                "error": "NotFound",
                "detail": "No such room.",
                "roomId": str(room),
            }
        await state.events.message_event("message.created", dm, message(dm))
        await c.nothing()
    async with client(base, bob.token) as c:
        for room in (dm, channel, group):
            assert await c.subscribe(room) == {"type": "subscribed", "roomId": str(room)}


async def test_events_reach_subscribers_in_order(base: str, state: AppState) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    _, channel = await make_server(state, ada, {bob: "MODERATOR"})
    async with client(base, ada.token) as a, client(base, bob.token) as b:
        await a.subscribe(dm)
        await b.subscribe(dm)
        await b.subscribe(channel)
        events = state.events
        sent = [message(dm, f"m{i}") for i in range(20)]
        for m in sent:
            await events.message_event("message.created", dm, m)
        edited = {**sent[0], "content": "edited"}
        await events.message_event("message.updated", dm, edited)
        await events.message_event("message.created", channel, message(channel, role="ADMIN"))
        for c in (a, b):
            for m in sent:
                frame = await c.expect("message.created", roomId=str(dm))
                assert frame["message"] == m
            assert (await c.expect("message.updated"))["message"] == edited
        assert (await b.expect("message.created", roomId=str(channel)))["message"][
            "role"
        ] == "ADMIN"
        await a.nothing()

        await b.send({"op": "unsubscribe", "roomId": str(dm)})
        await b.expect("unsubscribed", roomId=str(dm))
        await events.message_event("message.deleted", dm, message(dm, deleted=True))
        await a.expect("message.deleted")
        await b.nothing()


async def test_access_revoked_ends_subscriptions(base: str, state: AppState) -> None:
    ada, bob, cy = [await make_person(state, n) for n in ("Ada", "Bob", "Cy")]
    _, channel = await make_server(state, ada, {bob: "GUEST", cy: "GUEST"})
    group = await make_group(state, ada, [bob, cy])
    events = state.events
    async with client(base, bob.token) as b, client(base, cy.token) as c:
        for room in (channel, group):
            await b.subscribe(room)
            await c.subscribe(room)
        await events.access_revoked([channel], bob.id, "kicked")
        await b.expect("subscription.ended", roomId=str(channel), reason="kicked")
        await events.message_event("message.created", channel, message(channel))
        await c.expect("message.created", roomId=str(channel))
        await b.nothing()

        await events.access_revoked([group, channel], None, "deleted")
        ended = {(await c.expect("subscription.ended"))["roomId"] for _ in range(2)}
        assert ended == {str(group), str(channel)}
        await b.expect("subscription.ended", roomId=str(group), reason="deleted")
        await events.message_event("message.created", group, message(group))
        await b.nothing()
        await c.nothing()


async def test_slow_consumer_is_cut_off_with_4009(base: str, state: AppState) -> None:
    tune(state, send_queue_size=32)
    realtime = realtime_of(state)
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    # Random content: permessage-deflate would shrink repetitive text to nothing.
    big = message(dm, secrets.token_hex(50_000))
    async with client(base, ada.token, max_queue=1, max_size=2**21) as slow:
        await slow.subscribe(dm)
        assert realtime.hub.subscription_count == 1
        # The client reads nothing: kernel buffers fill, then the server's queue.
        # Yield between events so the server really writes until it blocks.
        for _ in range(1000):
            await state.events.message_event("message.created", dm, big)
            await asyncio.sleep(0.001)
            if realtime.hub.connection_count == 0:
                break
        assert realtime.hub.connection_count == 0, "the slow consumer was not cut off"
        assert await slow.closed_with(timeout=10) == CloseCode.SLOW_CONSUMER


async def test_silent_client_is_closed_after_heartbeat(base: str, state: AppState) -> None:
    tune(state, heartbeat_interval=0.3, heartbeat_timeout=0.3)
    ada = await make_person(state)
    async with client(base, ada.token) as talker, client(base, ada.token) as silent:
        # The talker answers; the silent one reads but never sends a frame.
        assert (await talker.recv(2))["type"] == "ping"
        await talker.send({"op": "pong"})
        assert (await silent.recv(2))["type"] == "ping"
        assert await silent.closed_with(timeout=3) == CloseCode.HEARTBEAT_TIMEOUT
        await talker.send({"op": "ping"})
        await talker.expect("pong")


async def test_shutdown_closes_with_going_away(state: AppState) -> None:
    ada = await make_person(state)
    other = create_app(state.settings)
    async with serving(other, lifespan="on") as url, client(url, ada.token) as c:
        await other.state.parley.realtime.stop()
        assert await c.closed_with() == CloseCode.GOING_AWAY


async def test_connection_ends_when_its_token_expires(base: str, state: AppState) -> None:
    ada = await make_person(state)
    # `exp` has whole-second precision: 2 s leaves between 1 and 2 s.
    token = issue_token(ada.id, state.settings.jwt_secret.get_secret_value(), 2)
    async with client(base, token) as c:
        assert await c.closed_with(timeout=5) == CloseCode.UNAUTHORIZED


async def test_missed_revocations_are_found_after_a_transport_reconnect(
    base: str, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    server_id, channel = await make_server(state, ada, {bob: "GUEST"})
    dm = await make_dm(state, ada, bob)
    async with client(base, bob.token) as b:
        await b.subscribe(channel)
        await b.subscribe(dm)
        # Bob leaves while this instance is not listening: no announcement arrives.
        async with state.postgres.sessionmaker.begin() as session:
            await session.execute(
                delete(Member).where(Member.server_id == server_id, Member.profile_id == bob.id)
            )
        realtime_of(state).service.transport_restored("transport_reconnected")
        frames = [await b.recv() for _ in range(3)]
        assert {(f["type"], f["roomId"]) for f in frames[:2]} == {
            ("resync", str(channel)),
            ("resync", str(dm)),
        }
        assert frames[2] == {
            "type": "subscription.ended",
            "roomId": str(channel),
            "reason": "access_lost",
        }
        await state.events.message_event("message.created", dm, message(dm))
        await b.expect("message.created", roomId=str(dm))


async def test_listen_connection_reconnects_by_itself(base: str, state: AppState) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    other = create_app(state.settings)
    async with serving(other, lifespan="on"), client(base, ada.token) as c:
        await c.subscribe(dm)
        transport = realtime_of(state).transport
        assert isinstance(transport, PgNotifyTransport)
        await eventually(lambda: _true(transport.connected.is_set()))
        async with state.postgres.engine.begin() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'parley-realtime'"
                )
            )
        await c.expect("resync", roomId=str(dm), reason="transport_reconnected")
        sent = message(dm, "after the reconnect")
        other_events = other.state.parley.events
        other_transport = realtime_of(other.state.parley).transport
        assert isinstance(other_transport, PgNotifyTransport)
        await eventually(lambda: _true(other_transport.connected.is_set()))
        await other_events.message_event("message.created", dm, sent)
        assert (await c.expect("message.created"))["message"] == sent


async def _true(value: bool) -> bool:
    return value


async def test_bursts_cross_instances_in_order(base: str, state: AppState) -> None:
    """Many events published at once travel in batched NOTIFYs; the other
    instance delivers every one, in the order they were published."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    other = create_app(state.settings)
    async with serving(other, lifespan="on"), client(base, ada.token) as c:
        await c.subscribe(dm)
        transport = realtime_of(other.state.parley).transport
        assert isinstance(transport, PgNotifyTransport)
        await eventually(lambda: _true(transport.connected.is_set()))
        events = other.state.parley.events
        sent = [message(dm, f"burst {i}") for i in range(500)]
        for m in sent:
            await events.message_event("message.created", dm, m)
        received = [(await c.expect("message.created"))["message"]["id"] for _ in sent]
        assert received == [m["id"] for m in sent]
