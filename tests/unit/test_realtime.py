"""Realtime pieces without servers: frame parsing, the hub's fan-out and
revocation, the bounded queue, and the cross-instance envelope logic over an
in-memory transport (echo suppression, oversized messages by id, chunked
revocations)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest

from parley.cursors import event_cursor
from parley.realtime.connection import Connection
from parley.realtime.hub import Hub
from parley.realtime.redact import RedactTokens, install_token_redaction
from parley.realtime.schemas import (
    AuthFrame,
    CloseCode,
    FrameError,
    PingFrame,
    SubscribeFrame,
    error_frame,
    parse_client_frame,
)
from parley.realtime.service import MessageSource, RealtimeService
from parley.realtime.transport import MAX_PAYLOAD_BYTES, OnEnvelope, OnRestored, asyncpg_dsn
from parley.rooms.access import RoomAccessPolicy
from parley.storage.errors import StorageUnavailable

ROOM = uuid.UUID("01a21632-6e8f-7352-afa2-39aa2c77a5a5")


def sink() -> tuple[Connection, list[dict[str, Any]]]:
    frames: list[dict[str, Any]] = []

    async def send(text: str) -> None:
        frames.append(json.loads(text))

    return Connection(uuid.uuid4(), send, queue_size=8), frames


async def drain(connection: Connection) -> None:
    task = asyncio.create_task(connection.pump())
    for _ in range(20):
        await asyncio.sleep(0)
    task.cancel()


def test_parse_client_frames() -> None:
    assert parse_client_frame('{"op":"ping"}') == PingFrame(op="ping")
    assert parse_client_frame('{"op":"auth","token":"t","extra":1}') == AuthFrame(
        op="auth", token="t"
    )
    frame = parse_client_frame(json.dumps({"op": "subscribe", "roomId": str(ROOM)}))
    assert isinstance(frame, SubscribeFrame) and frame.room_id == ROOM


@pytest.mark.parametrize(
    ("text", "room_id"),
    [
        ("", None),
        ("null", None),
        ('"ping"', None),
        ('{"op": "nope"}', None),
        ('{"op": "subscribe", "roomId": "abc"}', "abc"),
        ('{"op": "unsubscribe"}', None),
        ('{"op": "auth", "token": ""}', None),
    ],
)
def test_parse_rejects_bad_frames(text: str, room_id: str | None) -> None:
    with pytest.raises(FrameError) as error:
        parse_client_frame(text)
    assert error.value.detail
    assert error.value.room_id == room_id


def test_close_codes_are_stable() -> None:
    # Documented in docs/REALTIME.md; clients depend on them.
    assert [int(c) for c in CloseCode] == [1000, 1001, 1009, 1011, 4001, 4008, 4009, 4010, 4029]


async def test_hub_delivers_in_order_and_revokes() -> None:
    hub = Hub()
    (one, one_frames), (two, two_frames) = sink(), sink()
    for connection in (one, two):
        hub.attach(connection)
        hub.subscribe(connection, ROOM)
    for i in range(5):
        assert hub.deliver(ROOM, json.dumps({"type": "n", "i": i})) == 2
    assert hub.revoke([ROOM], one.profile_id, "kicked") == 1
    assert hub.deliver(ROOM, json.dumps({"type": "n", "i": 5})) == 1
    await drain(one)
    await drain(two)
    assert [f.get("i") for f in one_frames] == [0, 1, 2, 3, 4, None]
    assert one_frames[-1] == {"type": "subscription.ended", "roomId": str(ROOM), "reason": "kicked"}
    assert [f["i"] for f in two_frames] == [0, 1, 2, 3, 4, 5]
    hub.detach(two)
    assert not hub.has_subscribers(ROOM)
    assert hub.subscription_count == 0 and hub.connection_count == 1


def test_full_queue_ends_the_connection_and_frees_it() -> None:
    hub = Hub()
    connection, _ = sink()
    hub.attach(connection)
    hub.subscribe(connection, ROOM)
    for i in range(9):
        hub.deliver(ROOM, str(i))
    assert connection.ended.is_set()
    assert connection.close_code == CloseCode.SLOW_CONSUMER
    assert connection.queued == 0
    connection.offer("more")  # ignored once ended
    assert connection.queued == 0


async def test_heartbeat_ends_a_silent_connection() -> None:
    connection, _ = sink()
    connection.last_seen -= 10
    await asyncio.wait_for(connection.heartbeat(0.01, 0.01), 1)
    assert connection.close_code == CloseCode.HEARTBEAT_TIMEOUT


class MemoryBus:
    """Every published text reaches every transport, the publisher included
    (as NOTIFY does), when `flush` is awaited."""

    def __init__(self) -> None:
        self.members: list[MemoryTransport] = []
        self.pending: list[str] = []

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        for text in pending:
            for member in self.members:
                assert member.on_envelope is not None
                await member.on_envelope(text)


class MemoryTransport:
    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.on_envelope: OnEnvelope | None = None

    def publish(self, text: str) -> None:
        assert len(text.encode()) < MAX_PAYLOAD_BYTES
        self.bus.pending.append(text)

    async def start(self, on_envelope: OnEnvelope, on_restored: OnRestored) -> None:
        self.on_envelope = on_envelope
        self.bus.members.append(self)

    async def stop(self) -> None:
        self.bus.members.remove(self)

    def status(self) -> dict[str, Any]:
        return {"listening": True, "reconnects": 0, "peers": len(self.bus.members) - 1}


class NoMessages:
    """A `MessageSource` that finds nothing (the message is gone)."""

    async def load(self, room_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        return None


class LoadedMessages:
    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self.loaded: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def load(self, room_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        self.loaded.append((room_id, message_id))
        return self.message


class NoMirror:
    """The participant directory of a room no store can describe."""

    def cached_participants(self, room_id: uuid.UUID) -> None:
        return None

    async def dm_participants(self, room_id: uuid.UUID) -> None:
        raise StorageUnavailable("down", store="mongodb", operation="DM_PARTICIPANTS")


def policy(postgres: Any) -> RoomAccessPolicy:
    return RoomAccessPolicy(postgres, NoMirror())  # type: ignore[arg-type]


async def instance(bus: MemoryBus, messages: MessageSource | None = None) -> RealtimeService:
    transport = MemoryTransport(bus)
    service = RealtimeService(Hub(), transport, policy(None), messages or NoMessages())
    await transport.start(service.receive, service.transport_restored)
    return service


def subscriber(service: RealtimeService) -> tuple[Connection, list[dict[str, Any]]]:
    connection, frames = sink()
    connection._queue = asyncio.Queue(maxsize=1000)
    service.hub.attach(connection)
    service.hub.subscribe(connection, ROOM)
    return connection, frames


def message(content: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "roomId": str(ROOM),
        "content": content,
        "updatedAt": "2026-11-30T14:00:00.123Z",
    }


async def test_events_cross_instances_once() -> None:
    bus = MemoryBus()
    a, b = await instance(bus), await instance(bus)
    (on_a, a_frames), (on_b, b_frames) = subscriber(a), subscriber(b)
    sent = [message(f"m{i}") for i in range(3)]
    for m in sent:
        await b.message_event("message.created", ROOM, m)
    await bus.flush()
    await drain(on_a)
    await drain(on_b)
    for frames in (a_frames, b_frames):
        assert [f["message"] for f in frames] == sent  # once each, in order
        # Every instance gives an event the same change-feed cursor.
        assert {f["cursor"] for f in frames} == {event_cursor(sent[0]["updatedAt"])}


async def test_oversized_message_travels_by_id_and_is_loaded() -> None:
    bus = MemoryBus()
    big = message("\N{GRINNING FACE}" * 4000)
    loader = LoadedMessages(big)
    a, b = await instance(bus, loader), await instance(bus)
    on_a, frames = subscriber(a)
    await b.message_event("message.updated", ROOM, big)
    await bus.flush()
    await drain(on_a)
    assert loader.loaded == [(ROOM, uuid.UUID(big["id"]))]
    cursor = event_cursor(big["updatedAt"])
    assert frames == [
        {"type": "message.updated", "roomId": str(ROOM), "message": big, "cursor": cursor}
    ]


async def test_unloadable_message_asks_for_resync() -> None:
    bus = MemoryBus()
    a, b = await instance(bus), await instance(bus)  # the message cannot be loaded
    on_a, frames = subscriber(a)
    await b.message_event("message.created", ROOM, message("x" * 9000))
    await bus.flush()
    await drain(on_a)
    assert frames == [{"type": "resync", "roomId": str(ROOM), "reason": "event_unavailable"}]


async def test_revocations_cross_instances_in_chunks() -> None:
    bus = MemoryBus()
    a, b = await instance(bus), await instance(bus)
    rooms = [uuid.uuid4() for _ in range(450)]
    connection, frames = sink()
    connection._queue = asyncio.Queue(maxsize=1000)
    a.hub.attach(connection)
    for room in rooms:
        a.hub.subscribe(connection, room)
    await b.access_revoked(rooms, connection.profile_id, "kicked")
    assert len(bus.pending) == 5
    await bus.flush()
    await drain(connection)
    assert {f["roomId"] for f in frames} == {str(r) for r in rooms}
    assert a.hub.subscription_count == 0


async def test_malformed_envelopes_are_ignored() -> None:
    bus = MemoryBus()
    a = await instance(bus)
    for text in ["", "[]", '{"v": 1, "i": "x", "k": "m"}', '{"v": 1, "i": "x", "k": "x", "r": 1}']:
        await a.receive(text)


def test_asyncpg_dsn() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u@h:1/d") == "postgresql://u@h:1/d"
    assert asyncpg_dsn("postgres://u@h/d") == "postgresql://u@h/d"


class FlakyPostgres:
    """Unavailable for the first `failures` calls, then says "no access"."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def run(self, name: str, fn: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageUnavailable("down", store="postgresql", operation=name)
        return None


async def test_recheck_retries_until_postgres_answers() -> None:
    postgres = FlakyPostgres(failures=2)
    bus = MemoryBus()
    service = RealtimeService(Hub(), MemoryTransport(bus), policy(postgres), NoMessages())
    connection, frames = subscriber(service)
    assert await service.recheck_subscriptions(rounds=5, pause=0) == 1
    assert postgres.calls == 3
    await drain(connection)
    assert frames == [{"type": "subscription.ended", "roomId": str(ROOM), "reason": "access_lost"}]


def test_tokens_in_query_strings_are_redacted_from_uvicorn_logs() -> None:
    install_token_redaction()
    install_token_redaction()
    logger = logging.getLogger("uvicorn.error")
    assert sum(isinstance(f, RedactTokens) for f in logger.filters) == 1
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", "/api/ws?token=eyJh.eyJz.sig&x=1"), None,
    )  # fmt: skip
    logger.filters[-1].filter(record)
    expected = '127.0.0.1:5 - "WebSocket /api/ws?token=[redacted]&x=1" [accepted]'
    assert record.getMessage() == expected


async def test_publishing_never_raises_into_the_publisher() -> None:
    bus = MemoryBus()
    a = await instance(bus)
    on_a, frames = subscriber(a)
    # Too large for a NOTIFY and without an id to send instead: delivered
    # locally, logged, and the publisher's acknowledged write stays a success.
    body = {"content": "x" * 9000, "updatedAt": "2026-11-30T14:00:00.123Z"}
    await a.message_event("message.created", ROOM, body)
    await drain(on_a)
    assert frames[0]["message"] == body
    assert bus.pending == []


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000,
        '{"a":' * 3000,
        '{"op": "subscribe", "roomId": "\\ud800"}',
        '{"op": "\\udfff"}',
        '{"op": "subscribe", "roomId": ' + "9" * 5000 + "}",
    ],
)
def test_parse_turns_every_parser_failure_into_frame_error(text: str) -> None:
    with pytest.raises(FrameError) as error:
        parse_client_frame(text)
    assert error.value.room_id is None  # never echo what cannot be encoded
    error_frame("BadRequest", error.value.detail).encode("utf-8")
