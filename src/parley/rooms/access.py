"""Who may do what in a room: one lookup used by the rooms API, the message API
and realtime subscriptions, so the rules live in one place.

`find_room_access` answers None when the room does not exist *or* the caller is
not in it: callers turn both into 404, so nobody learns a room exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import (
    Channel,
    Conversation,
    GroupConversationMember,
    Member,
)

RoomKind = Literal["dm", "group", "channel"]


@dataclass(frozen=True)
class RoomAccess:
    kind: RoomKind
    room_id: uuid.UUID
    profile_id: uuid.UUID
    # dm: the two participants; group: not set; channel: not set
    participant_ids: tuple[uuid.UUID, ...] = ()
    # channel: server, channel type and the caller's membership
    server_id: uuid.UUID | None = None
    channel_type: str | None = None
    member_id: uuid.UUID | None = None
    # channel: ADMIN|MODERATOR|GUEST; group: ADMIN|GUEST; dm: None
    role: str | None = None

    @property
    def can_moderate(self) -> bool:
        """May delete other people's messages (channel ADMIN/MODERATOR, group ADMIN)."""
        if self.kind == "channel":
            return self.role in {"ADMIN", "MODERATOR"}
        return self.kind == "group" and self.role == "ADMIN"


async def find_room_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    """The caller's access to `room_id`, or None when they may not see it."""
    return (
        await _dm_access(session, room_id, profile_id)
        or await _group_access(session, room_id, profile_id)
        or await _channel_access(session, room_id, profile_id)
    )


async def _dm_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    row = (
        await session.execute(
            select(Conversation.profile_one_id, Conversation.profile_two_id).where(
                Conversation.id == room_id,
                or_(
                    Conversation.profile_one_id == profile_id,
                    Conversation.profile_two_id == profile_id,
                ),
            )
        )
    ).first()
    if row is None:
        return None
    return RoomAccess("dm", room_id, profile_id, participant_ids=(row[0], row[1]))


async def _group_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    role = await session.scalar(
        select(GroupConversationMember.role).where(
            GroupConversationMember.group_id == room_id,
            GroupConversationMember.profile_id == profile_id,
        )
    )
    if role is None:
        return None
    return RoomAccess("group", room_id, profile_id, role=role)


async def _channel_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    row = (
        await session.execute(
            select(Channel.server_id, Channel.type, Member.id, Member.role)
            .join(Member, Member.server_id == Channel.server_id)
            .where(Channel.id == room_id, Member.profile_id == profile_id)
        )
    ).first()
    if row is None:
        return None
    server_id, channel_type, member_id, role = row
    return RoomAccess(
        "channel",
        room_id,
        profile_id,
        server_id=server_id,
        channel_type=channel_type,
        member_id=member_id,
        role=role,
    )
