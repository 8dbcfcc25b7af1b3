"""SQL for DM and group conversations (channels are the community's).

The DM pair is stored ordered (`profile_one_id` < `profile_two_id`, enforced by
a CHECK constraint) so one pair has exactly one row, whoever opened it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ids import new_id
from parley.rooms.room import Room, RoomAccess
from parley.storage.postgres.models import (
    Channel,
    Conversation,
    GroupConversation,
    GroupConversationMember,
    Member,
    Profile,
)
from parley.storage.postgres.named import execute, scalar, scalars


async def insert_conversation_if_absent(
    session: AsyncSession, one: uuid.UUID, two: uuid.UUID
) -> uuid.UUID | None:
    """The new conversation's id, or None when the pair
    already has one (a concurrent insert waits for the other to commit)."""
    assert one < two
    return await scalar(
        session,
        "DM_INSERT_IF_ABSENT",
        insert(Conversation)
        .values(id=new_id(), profile_one_id=one, profile_two_id=two)
        .on_conflict_do_nothing(
            index_elements=[Conversation.profile_one_id, Conversation.profile_two_id]
        )
        .returning(Conversation.id),
    )


async def select_conversation_by_pair(
    session: AsyncSession, one: uuid.UUID, two: uuid.UUID
) -> Conversation | None:
    return await scalar(
        session,
        "DM_GET_BY_PAIR",
        select(Conversation).where(
            Conversation.profile_one_id == one, Conversation.profile_two_id == two
        ),
    )


async def select_conversation(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    return await scalar(
        session, "DM_GET_BY_ID", select(Conversation).where(Conversation.id == conversation_id)
    )


async def select_conversations_of_profile(
    session: AsyncSession, profile_id: uuid.UUID
) -> list[Conversation]:
    rows = await scalars(
        session,
        "DM_LIST_BY_PROFILE",
        select(Conversation).where(
            or_(
                Conversation.profile_one_id == profile_id, Conversation.profile_two_id == profile_id
            )
        ),
    )
    return list(rows)


async def select_profiles(
    session: AsyncSession, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Profile]:
    ids = list(set(profile_ids))
    if not ids:
        return {}
    rows = await scalars(
        session, "ROOM_PROFILES_GET_MANY", select(Profile).where(Profile.id.in_(ids))
    )
    return {row.id: row for row in rows}


async def insert_group(
    session: AsyncSession,
    creator_id: uuid.UUID,
    name: str | None,
    image_url: str | None,
) -> GroupConversation:
    group: GroupConversation | None = await scalar(
        session,
        "GROUP_INSERT",
        insert(GroupConversation)
        .values(id=new_id(), name=name, image_url=image_url, created_by_profile_id=creator_id)
        .returning(GroupConversation),
    )
    assert group is not None
    return group


async def insert_group_members(
    session: AsyncSession, group_id: uuid.UUID, roles: Sequence[tuple[uuid.UUID, str]]
) -> None:
    """(profile_id, role) pairs; existing kept."""
    if not roles:
        return
    await execute(
        session,
        "GROUP_MEMBERS_INSERT_IF_ABSENT",
        insert(GroupConversationMember)
        .values(
            [
                {"id": new_id(), "group_id": group_id, "profile_id": pid, "role": role}
                for pid, role in roles
            ]
        )
        .on_conflict_do_nothing(
            index_elements=[GroupConversationMember.group_id, GroupConversationMember.profile_id]
        ),
    )


async def select_group(session: AsyncSession, group_id: uuid.UUID) -> GroupConversation | None:
    return await scalar(
        session,
        "GROUP_GET_BY_ID",
        select(GroupConversation).where(GroupConversation.id == group_id),
    )


async def lock_group(session: AsyncSession, group_id: uuid.UUID) -> GroupConversation | None:
    """The group row, locked until commit so membership changes of
    one group run one at a time (size cap, last-member deletion)."""
    return await scalar(
        session,
        "GROUP_LOCK",
        select(GroupConversation)
        .where(GroupConversation.id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True),
    )


async def select_groups_of_profile(
    session: AsyncSession, profile_id: uuid.UUID
) -> list[GroupConversation]:
    rows = await scalars(
        session,
        "GROUP_LIST_BY_MEMBER",
        select(GroupConversation)
        .join(GroupConversationMember, GroupConversationMember.group_id == GroupConversation.id)
        .where(GroupConversationMember.profile_id == profile_id),
    )
    return list(rows)


async def select_group_members(
    session: AsyncSession, group_ids: Iterable[uuid.UUID]
) -> list[tuple[GroupConversationMember, Profile]]:
    """In joining order, with profiles."""
    ids = list(group_ids)
    if not ids:
        return []
    rows = await execute(
        session,
        "GROUP_MEMBERS_LIST",
        select(GroupConversationMember, Profile)
        .join(Profile, Profile.id == GroupConversationMember.profile_id)
        .where(GroupConversationMember.group_id.in_(ids))
        .order_by(GroupConversationMember.id),
    )
    return [(member, profile) for member, profile in rows]


async def update_group(
    session: AsyncSession, group_id: uuid.UUID, changes: dict[str, Any]
) -> GroupConversation | None:
    """Name and/or image_url; None when the group is gone."""
    return await scalar(
        session,
        "GROUP_UPDATE",
        update(GroupConversation)
        .where(GroupConversation.id == group_id)
        .values(**changes, updated_at=func.now())
        .returning(GroupConversation)
        .execution_options(populate_existing=True),
    )


async def delete_group_member(
    session: AsyncSession, group_id: uuid.UUID, profile_id: uuid.UUID
) -> None:
    await execute(
        session,
        "GROUP_MEMBER_DELETE",
        delete(GroupConversationMember).where(
            GroupConversationMember.group_id == group_id,
            GroupConversationMember.profile_id == profile_id,
        ),
    )


async def update_group_member_role(session: AsyncSession, member_id: uuid.UUID, role: str) -> None:
    await execute(
        session,
        "GROUP_MEMBER_UPDATE_ROLE",
        update(GroupConversationMember)
        .where(GroupConversationMember.id == member_id)
        .values(role=role),
    )


async def delete_group(session: AsyncSession, group_id: uuid.UUID) -> None:
    """Its members and messages go with it."""
    await execute(
        session, "GROUP_DELETE", delete(GroupConversation).where(GroupConversation.id == group_id)
    )


async def select_room_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    """The caller's access to `room_id`, or None when the room does not exist
    *or* the caller is not in it: both become 404, so nobody learns a room
    exists."""
    return (
        await _dm_access(session, room_id, profile_id)
        or await _group_access(session, room_id, profile_id)
        or await _channel_access(session, room_id, profile_id)
    )


async def _dm_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    row = (
        await execute(
            session,
            "DM_ACCESS",
            select(Conversation.profile_one_id, Conversation.profile_two_id).where(
                Conversation.id == room_id,
                or_(
                    Conversation.profile_one_id == profile_id,
                    Conversation.profile_two_id == profile_id,
                ),
            ),
        )
    ).first()
    if row is None:
        return None
    return RoomAccess(Room("dm", room_id, participant_ids=(row[0], row[1])), profile_id)


async def _group_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    role = await scalar(
        session,
        "GROUP_ACCESS",
        select(GroupConversationMember.role).where(
            GroupConversationMember.group_id == room_id,
            GroupConversationMember.profile_id == profile_id,
        ),
    )
    if role is None:
        return None
    return RoomAccess(Room("group", room_id), profile_id, role=role)


async def _channel_access(
    session: AsyncSession, room_id: uuid.UUID, profile_id: uuid.UUID
) -> RoomAccess | None:
    row = (
        await execute(
            session,
            "CHANNEL_ACCESS",
            select(Channel.server_id, Channel.type, Member.id, Member.role)
            .join(Member, Member.server_id == Channel.server_id)
            .where(Channel.id == room_id, Member.profile_id == profile_id),
        )
    ).first()
    if row is None:
        return None
    server_id, channel_type, member_id, role = row
    room = Room("channel", room_id, server_id=server_id, channel_type=channel_type)
    return RoomAccess(room, profile_id, member_id=member_id, role=role)


async def select_room(session: AsyncSession, room_id: uuid.UUID) -> Room | None:
    """A room without a caller (to load a message for subscribers, who were
    authorised when they subscribed)."""
    pair = (
        await execute(
            session,
            "SELECT_ROOM",
            select(Conversation.profile_one_id, Conversation.profile_two_id).where(
                Conversation.id == room_id
            ),
        )
    ).first()
    if pair is not None:
        return Room("dm", room_id, participant_ids=(pair[0], pair[1]))
    channel = (
        await execute(
            session,
            "SELECT_ROOM",
            select(Channel.server_id, Channel.type).where(Channel.id == room_id),
        )
    ).first()
    if channel is not None:
        return Room("channel", room_id, server_id=channel[0], channel_type=channel[1])
    group = await scalar(
        session, "SELECT_ROOM", select(GroupConversation.id).where(GroupConversation.id == room_id)
    )
    return Room("group", room_id) if group is not None else None
