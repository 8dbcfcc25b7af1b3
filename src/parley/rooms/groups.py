"""Group conversation rules: 2 to 9 other people at creation, each sharing a
server with whoever adds them; at most 10 members; the creator is ADMIN. The
ADMIN renames, adds and removes; anyone may leave. A group with nobody left is
deleted; when its last ADMIN leaves, the longest-standing member becomes ADMIN.
Membership changes lock the group row so they apply one at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.members import repository as members
from parley.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parley.paths import found_or_404
from parley.rooms import repository as rooms
from parley.rooms.revocation import revoke_access_after_commit
from parley.rooms.room import RoomAccess
from parley.rooms.schemas import MAX_OTHERS, MIN_OTHERS, RoomOut, group_room
from parley.state import AppState
from parley.storage.postgres.models import GroupConversation, GroupConversationMember, Profile

ADMIN = "ADMIN"
GUEST = "GUEST"
MAX_MEMBERS = MAX_OTHERS + 1


async def create_group(
    session: AsyncSession,
    caller_id: uuid.UUID,
    profile_ids: Sequence[uuid.UUID],
    name: str | None,
    image_url: str | None,
) -> RoomOut:
    others = list(dict.fromkeys(profile_ids))
    if caller_id in others:
        raise ValidationFailed("profileIds: must not include yourself.")
    if not MIN_OTHERS <= len(others) <= MAX_OTHERS:
        raise ValidationFailed(
            f"profileIds: a group needs {MIN_OTHERS} to {MAX_OTHERS} other people."
        )
    await _require_shared_server(session, caller_id, others)
    group = await rooms.insert_group(session, caller_id, name, image_url)
    roles = [(caller_id, ADMIN), *[(other, GUEST) for other in others]]
    await rooms.insert_group_members(session, group.id, roles)
    return await group_view(session, group)


async def update_group(
    session: AsyncSession, access: RoomAccess, changes: dict[str, Any]
) -> RoomOut:
    _require_group(access, "changed")
    _require_admin(access, "change the group")
    if changes:
        group = await rooms.update_group(session, access.room_id, changes)
    else:
        group = await rooms.select_group(session, access.room_id)
    return await group_view(session, found_or_404(group, "room"))


async def add_members(
    session: AsyncSession, access: RoomAccess, profile_ids: Sequence[uuid.UUID]
) -> RoomOut:
    _require_group(access, "given members")
    _require_admin(access, "add members")
    group = await _locked_group(session, access.room_id)
    current = await _members(session, group.id, access.profile_id)
    new = [pid for pid in dict.fromkeys(profile_ids) if pid not in {m.profile_id for m in current}]
    await _require_shared_server(session, access.profile_id, new)
    if len(current) + len(new) > MAX_MEMBERS:
        raise Conflict(f"A group has at most {MAX_MEMBERS} members.", code="GroupFull")
    await rooms.insert_group_members(session, group.id, [(pid, GUEST) for pid in new])
    return await group_view(session, group)


async def remove_member(
    session: AsyncSession, state: AppState, access: RoomAccess, profile_id: uuid.UUID
) -> None:
    """Remove `profile_id` (yourself: leave). The last one out deletes the group."""
    _require_group(access, "left or have members removed")
    leaving = profile_id == access.profile_id
    if not leaving:
        _require_admin(access, "remove other members")
    group = await _locked_group(session, access.room_id)
    current = await _members(session, group.id, access.profile_id)
    target = next((m for m in current if m.profile_id == profile_id), None)
    if target is None:
        raise NotFound("No such member in this group.")
    await rooms.delete_group_member(session, group.id, profile_id)
    remaining = [m for m in current if m.id != target.id]
    if not remaining:
        await rooms.delete_group(session, group.id)
        revoke_access_after_commit(session, state, [group.id], None, "deleted")
        return
    if not any(m.role == ADMIN for m in remaining):
        await rooms.update_group_member_role(session, remaining[0].id, ADMIN)
    revoke_access_after_commit(
        session, state, [group.id], profile_id, "left" if leaving else "removed"
    )


async def group_view(session: AsyncSession, group: GroupConversation) -> RoomOut:
    rows = await rooms.select_group_members(session, [group.id])
    return group_room(group, [(profile, member.role) for member, profile in rows])


def group_rooms(
    groups: Sequence[GroupConversation],
    rows: Sequence[tuple[GroupConversationMember, Profile]],
) -> list[RoomOut]:
    """Many groups at once, from one members query."""
    by_group: dict[uuid.UUID, list[tuple[Profile, str]]] = {group.id: [] for group in groups}
    for member, profile in rows:
        by_group[member.group_id].append((profile, member.role))
    return [group_room(group, by_group[group.id]) for group in groups]


async def _require_shared_server(
    session: AsyncSession, caller_id: uuid.UUID, profile_ids: Sequence[uuid.UUID]
) -> None:
    """404 for any profile the caller shares no server with (or that does not exist)."""
    shared = await members.select_profiles_sharing_a_server(session, caller_id, profile_ids)
    if set(profile_ids) - shared:
        raise NotFound("No such profile.")


def _require_group(access: RoomAccess, what: str) -> None:
    if access.kind == "dm":
        raise Forbidden(f"A DM cannot be {what}.")
    if access.kind != "group":
        raise Forbidden(f"Only a group conversation can be {what} here.")


def _require_admin(access: RoomAccess, action: str) -> None:
    if access.role != ADMIN:
        raise Forbidden(f"Only the group's ADMIN may {action}.")


async def _locked_group(session: AsyncSession, group_id: uuid.UUID) -> GroupConversation:
    return found_or_404(await rooms.lock_group(session, group_id), "room")


async def _members(
    session: AsyncSession, group_id: uuid.UUID, caller_id: uuid.UUID
) -> list[GroupConversationMember]:
    """The group's members, re-read under the lock; 404 if the caller left meanwhile."""
    current = [member for member, _ in await rooms.select_group_members(session, [group_id])]
    if all(member.profile_id != caller_id for member in current):
        raise NotFound("No such room.")
    return current
