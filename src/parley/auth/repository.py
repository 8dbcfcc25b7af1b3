"""SQL for accounts: finding a profile by email, creating one, refreshing a hash.
Emails are stored lower-case; `uq_profiles_email_lower` keeps them unique."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import Profile


async def select_profile_by_email(session: AsyncSession, email: str) -> Profile | None:
    """PROFILE_GET_BY_EMAIL (case-insensitive)"""
    return await session.scalar(select(Profile).where(func.lower(Profile.email) == email.lower()))


async def insert_profile_if_email_free(
    session: AsyncSession, profile_id: uuid.UUID, email: str, name: str, password_hash: str
) -> Profile | None:
    """PROFILE_INSERT_IF_EMAIL_FREE: None when the email is taken (race-safe)."""
    return await session.scalar(
        insert(Profile)
        .values(id=profile_id, email=email, name=name, password_hash=password_hash)
        .on_conflict_do_nothing()
        .returning(Profile)
    )


async def update_password_hash(
    session: AsyncSession, profile_id: uuid.UUID, password_hash: str
) -> None:
    """PROFILE_UPDATE_PASSWORD_HASH"""
    await session.execute(
        update(Profile)
        .where(Profile.id == profile_id)
        .values(password_hash=password_hash, updated_at=func.now())
    )
