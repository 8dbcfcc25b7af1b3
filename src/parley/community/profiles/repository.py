"""SQL for profiles as the community domain sees them (creation lives in auth)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import Profile
from parley.storage.postgres.named import scalar


async def select_profile(session: AsyncSession, profile_id: uuid.UUID) -> Profile | None:
    return await scalar(
        session, "PROFILE_GET_BY_ID", select(Profile).where(Profile.id == profile_id)
    )


async def update_profile(
    session: AsyncSession, profile_id: uuid.UUID, changes: dict[str, Any]
) -> Profile | None:
    """Name and/or image_url."""
    return await scalar(
        session,
        "PROFILE_UPDATE",
        update(Profile)
        .where(Profile.id == profile_id)
        .values(**changes, updated_at=func.now())
        .returning(Profile)
        .execution_options(populate_existing=True),
    )
