"""Test-only helpers beside the shared factories (`parley.devstack.factories`,
re-exported here so tests import one module)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from parley.devstack.factories import (
    Person,
    make_channel_message,
    make_dm,
    make_group,
    make_person,
    make_server,
    member_id_of,
)
from parley.state import AppState

__all__ = [
    "Person",
    "RecordingRoomEvents",
    "make_channel_message",
    "make_dm",
    "make_group",
    "make_person",
    "make_server",
    "member_id_of",
    "record_room_events",
]


class RecordingRoomEvents:
    """A `RoomEvents` that remembers `access_revoked` calls, for asserting hooks."""

    def __init__(self) -> None:
        self.revoked: list[tuple[set[uuid.UUID], uuid.UUID | None, str]] = []

    async def message_event(self, event_type: str, room_id: uuid.UUID, message: object) -> None:
        return None

    async def access_revoked(
        self, room_ids: Sequence[uuid.UUID], profile_id: uuid.UUID | None, reason: str
    ) -> None:
        self.revoked.append((set(room_ids), profile_id, reason))


def record_room_events(state: AppState) -> RecordingRoomEvents:
    recorder = RecordingRoomEvents()
    state.events = recorder
    return recorder
