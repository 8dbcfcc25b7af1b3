"""SQL for accounts: finding a profile by email, creating one, refreshing a hash.
Emails are stored lower-case; `uq_profiles_email_lower` keeps them unique."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import Profile
from parley.storage.postgres.named import execute, scalar


async def select_profile_by_email(session: AsyncSession, email: str) -> Profile | None:
    """Case-insensitive."""
    return await scalar(
        session,
        "PROFILE_GET_BY_EMAIL",
        select(Profile).where(func.lower(Profile.email) == email.lower()),
    )


async def insert_profile_if_email_free(
    session: AsyncSession, profile_id: uuid.UUID, email: str, name: str, password_hash: str
) -> Profile | None:
    """None when the email is taken (race-safe)."""
    return await scalar(
        session,
        "PROFILE_INSERT_IF_EMAIL_FREE",
        insert(Profile)
        .values(id=profile_id, email=email, name=name, password_hash=password_hash)
        .on_conflict_do_nothing()
        .returning(Profile),
    )


async def update_password_hash(
    session: AsyncSession, profile_id: uuid.UUID, password_hash: str
) -> None:
    await execute(
        session,
        "PROFILE_UPDATE_PASSWORD_HASH",
        update(Profile)
        .where(Profile.id == profile_id)
        .values(password_hash=password_hash, updated_at=func.now()),
    )
