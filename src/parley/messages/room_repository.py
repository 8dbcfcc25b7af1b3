"""PostgreSQL reads that render channel and group messages: authors' profiles
and, in channels, their current membership (memberId and role)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.messages.render import AuthorView
from parley.rooms.access import RoomAccess
from parley.storage.postgres.models import Channel, GroupConversation, Member, Profile

NOBODY = uuid.UUID(int=0)


async def author_views(
    session: AsyncSession, profile_ids: Iterable[uuid.UUID], server_id: uuid.UUID | None
) -> dict[uuid.UUID, AuthorView]:
    ids = list(set(profile_ids))
    if not ids:
        return {}
    statement = select(Profile.id, Profile.name, Profile.image_url, Member.id, Member.role)
    if server_id is None:
        statement = select(Profile.id, Profile.name, Profile.image_url, None, None)  # type: ignore[call-overload]
    else:
        statement = statement.outerjoin(
            Member, (Member.profile_id == Profile.id) & (Member.server_id == server_id)
        )
    rows = await session.execute(statement.where(Profile.id.in_(ids)))
    return {row[0]: AuthorView(row[0], row[1], row[2], row[3], row[4]) for row in rows}


async def room_kind(session: AsyncSession, room_id: uuid.UUID) -> RoomAccess | None:
    """A caller-less view of a channel or group (for loading a message to push
    to subscribers who were authorised when they subscribed)."""
    server_id = await session.scalar(select(Channel.server_id).where(Channel.id == room_id))
    if server_id is not None:
        return RoomAccess("channel", room_id, NOBODY, server_id=server_id, channel_type="TEXT")
    group = await session.scalar(
        select(GroupConversation.id).where(GroupConversation.id == room_id)
    )
    return RoomAccess("group", room_id, NOBODY) if group is not None else None
