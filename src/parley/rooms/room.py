"""What "room" means everywhere: a DM, a group or a server's channel, and a
caller's standing in one (see `rooms.access` for who may use which)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

RoomKind = Literal["dm", "group", "channel"]
MODERATORS = {"channel": {"ADMIN", "MODERATOR"}, "group": {"ADMIN"}, "dm": set[str]()}


@dataclass(frozen=True)
class Room:
    """A DM, a group or a server's channel: what "room" means everywhere."""

    kind: RoomKind
    id: uuid.UUID
    server_id: uuid.UUID | None = None  # channel
    channel_type: str | None = None  # channel: TEXT, AUDIO or VIDEO
    participant_ids: tuple[uuid.UUID, ...] = ()  # dm: the two people


@dataclass(frozen=True)
class RoomAccess:
    """A caller's standing in a room."""

    room: Room
    profile_id: uuid.UUID
    member_id: uuid.UUID | None = None  # channel: the caller's server membership
    role: str | None = None  # channel: ADMIN|MODERATOR|GUEST; group: ADMIN|GUEST

    @property
    def kind(self) -> RoomKind:
        return self.room.kind

    @property
    def room_id(self) -> uuid.UUID:
        return self.room.id

    @property
    def can_moderate(self) -> bool:
        """May delete other people's messages (channel ADMIN/MODERATOR, group ADMIN)."""
        return self.role in MODERATORS[self.kind]
