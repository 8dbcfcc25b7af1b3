"""Room rules the API exposes: opening a DM or a group, listing the caller's
DMs and groups, reading any room (DM, group or channel) through
`select_room_access`, and the group-only changes. Nobody learns a room exists
unless they are in it (404)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.channels import repository as channels
from parley.errors import NotFound
from parley.paths import found_or_404
from parley.rooms import dms, groups
from parley.rooms import repository as rooms
from parley.rooms.repository import select_room_access
from parley.rooms.room import RoomAccess
from parley.rooms.schemas import NewDm, NewGroup, RoomOut, channel_room, dm_room
from parley.state import AppState


async def create_room(
    session: AsyncSession, caller_id: uuid.UUID, body: NewDm | NewGroup
) -> tuple[RoomOut, bool]:
    """The room and whether it was created (a DM may already exist)."""
    if isinstance(body, NewDm):
        return await dms.open_dm(session, caller_id, body.profile_id)
    room = await groups.create_group(
        session, caller_id, body.profile_ids, body.name, body.image_url
    )
    return room, True


async def list_rooms(session: AsyncSession, caller_id: uuid.UUID) -> list[RoomOut]:
    """The caller's DMs and groups, newest first."""
    conversations = await rooms.select_conversations_of_profile(session, caller_id)
    group_rows = await rooms.select_groups_of_profile(session, caller_id)
    pairs = [(c.profile_one_id, c.profile_two_id) for c in conversations]
    profiles = await rooms.select_profiles(session, [pid for pair in pairs for pid in pair])
    result = [
        dm_room(c, profiles[caller_id], profiles[two if one == caller_id else one])
        for c, (one, two) in zip(conversations, pairs, strict=True)
    ]
    members = await rooms.select_group_members(session, [g.id for g in group_rows])
    result += groups.group_rooms(group_rows, members)
    return sorted(result, key=lambda room: (room.created_at, room.id), reverse=True)


async def get_room(session: AsyncSession, caller_id: uuid.UUID, room_id: uuid.UUID) -> RoomOut:
    access = await access_or_404(session, caller_id, room_id)
    if access.kind == "dm":
        conversation = await rooms.select_conversation(session, room_id)
        return await dms.dm_view(session, found_or_404(conversation, "room"), caller_id)
    if access.kind == "group":
        group = await rooms.select_group(session, room_id)
        return await groups.group_view(session, found_or_404(group, "room"))
    channel = await channels.select_channel(session, room_id)
    return channel_room(found_or_404(channel, "room"))


async def update_room(
    session: AsyncSession, caller_id: uuid.UUID, room_id: uuid.UUID, changes: dict[str, Any]
) -> RoomOut:
    access = await access_or_404(session, caller_id, room_id)
    return await groups.update_group(session, access, changes)


async def add_room_members(
    session: AsyncSession,
    caller_id: uuid.UUID,
    room_id: uuid.UUID,
    profile_ids: list[uuid.UUID],
) -> RoomOut:
    access = await access_or_404(session, caller_id, room_id)
    return await groups.add_members(session, access, profile_ids)


async def remove_room_member(
    session: AsyncSession,
    state: AppState,
    caller_id: uuid.UUID,
    room_id: uuid.UUID,
    profile_id: uuid.UUID,
) -> None:
    access = await access_or_404(session, caller_id, room_id)
    await groups.remove_member(session, state, access, profile_id)


async def access_or_404(
    session: AsyncSession, caller_id: uuid.UUID, room_id: uuid.UUID
) -> RoomAccess:
    access = await select_room_access(session, room_id, caller_id)
    if access is None:
        raise NotFound("No such room.")
    return access
