"""SQL for server memberships. Every query the member rules need lives here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from parley.ids import new_id
from parley.storage.postgres.models import Member, Profile
from parley.storage.postgres.named import execute, scalar, scalars


async def select_membership(
    session: AsyncSession, server_id: uuid.UUID, profile_id: uuid.UUID
) -> Member | None:
    return await scalar(
        session,
        "MEMBER_GET_BY_SERVER_AND_PROFILE",
        select(Member).where(Member.server_id == server_id, Member.profile_id == profile_id),
    )


async def select_member(session: AsyncSession, member_id: uuid.UUID) -> Member | None:
    return await scalar(session, "MEMBER_GET_BY_ID", select(Member).where(Member.id == member_id))


async def select_members_with_profiles(
    session: AsyncSession, server_id: uuid.UUID
) -> list[tuple[Member, Profile]]:
    """Members in joining order, with their profiles."""
    rows = await execute(
        session,
        "MEMBER_LIST_BY_SERVER",
        select(Member, Profile)
        .join(Profile, Profile.id == Member.profile_id)
        .where(Member.server_id == server_id)
        .order_by(Member.id),
    )
    return [(member, profile) for member, profile in rows]


async def insert_member_if_absent(
    session: AsyncSession, server_id: uuid.UUID, profile_id: uuid.UUID, role: str
) -> None:
    """Race-safe; an existing membership is kept as is."""
    await execute(
        session,
        "MEMBER_INSERT_IF_ABSENT",
        insert(Member)
        .values(id=new_id(), server_id=server_id, profile_id=profile_id, role=role)
        .on_conflict_do_nothing(index_elements=[Member.profile_id, Member.server_id]),
    )


async def update_member_role(
    session: AsyncSession, member_id: uuid.UUID, role: str
) -> Member | None:
    """None when the member is gone."""
    return await scalar(
        session,
        "MEMBER_UPDATE_ROLE",
        update(Member)
        .where(Member.id == member_id)
        .values(role=role, updated_at=func.now())
        .returning(Member)
        .execution_options(populate_existing=True),
    )


async def delete_member(session: AsyncSession, member_id: uuid.UUID) -> None:
    """The membership only; messages keep their author (member_id
    becomes NULL through the foreign key)."""
    await execute(session, "MEMBER_DELETE", delete(Member).where(Member.id == member_id))


async def select_profiles_sharing_a_server(
    session: AsyncSession, profile_id: uuid.UUID, candidate_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `candidate_ids` are members of
    at least one server `profile_id` is a member of."""
    candidates = list(candidate_ids)
    if not candidates:
        return set()
    mine, theirs = aliased(Member), aliased(Member)
    rows = await scalars(
        session,
        "MEMBER_PROFILES_SHARING_A_SERVER",
        select(theirs.profile_id)
        .distinct()
        .join(mine, mine.server_id == theirs.server_id)
        .where(mine.profile_id == profile_id, theirs.profile_id.in_(candidates)),
    )
    return set(rows)


async def select_member_profile(session: AsyncSession, profile_id: uuid.UUID) -> Profile:
    """A member's profile (it exists: the foreign key says so)."""
    profile = await scalar(
        session, "MEMBER_PROFILE_GET", select(Profile).where(Profile.id == profile_id)
    )
    assert profile is not None
    return profile
