"""Profile rules: your own profile, other people's (visible only when you share a
server: else 404), and the one function that changes a name or image.

`change_profile` is the only writer of a profile's name and image: it queues the
MongoDB mirror in the same transaction, so DMs render current names even while
PostgreSQL is down.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.members import repository as members
from parley.community.profiles import repository as profiles
from parley.errors import NotFound, Unauthorized
from parley.replication.directory import Directory
from parley.storage.postgres.database import on_commit
from parley.storage.postgres.models import Profile
from parley.storage.postgres.replay_queue import queue_profile_mirror


def _account_gone() -> Unauthorized:
    return Unauthorized("The token's profile no longer exists.")


async def get_own_profile(session: AsyncSession, profile_id: uuid.UUID) -> Profile:
    profile = await profiles.select_profile(session, profile_id)
    if profile is None:
        raise _account_gone()
    return profile


async def get_visible_profile(
    session: AsyncSession, caller_id: uuid.UUID, profile_id: uuid.UUID
) -> Profile:
    """Yourself, or someone sharing at least one server with you."""
    if profile_id != caller_id:
        shared = await members.select_profiles_sharing_a_server(session, caller_id, [profile_id])
        if profile_id not in shared:
            raise NotFound("No such profile.")
    profile = await profiles.select_profile(session, profile_id)
    if profile is None:
        raise NotFound("No such profile.")
    return profile


async def change_profile(
    session: AsyncSession, profile_id: uuid.UUID, changes: dict[str, Any], directory: Directory
) -> Profile:
    """Change `name` and/or `image_url` and queue the MongoDB mirror of the
    profile; once committed, this instance renders the new name at once."""
    unknown = set(changes) - {"name", "image_url"}
    assert not unknown, f"not profile fields: {unknown}"
    if not changes:
        return await get_own_profile(session, profile_id)
    profile = await profiles.update_profile(session, profile_id, changes)
    if profile is None:
        raise _account_gone()
    await queue_profile_mirror(session, profile_id)

    async def render_afresh() -> None:
        directory.forget(profile_id)

    on_commit(session, render_afresh)
    return profile
