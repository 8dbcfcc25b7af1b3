"""SQL for channels. Name uniqueness within a server is enforced by the database
(`uq_channels_server_id_name`); the writes here turn a clash into None."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ids import new_id
from parley.storage.postgres.models import Channel
from parley.storage.postgres.named import execute, scalar, scalars


async def insert_channel_if_name_free(
    session: AsyncSession, server_id: uuid.UUID, name: str, channel_type: str
) -> Channel | None:
    """None when the server already has that name."""
    return await scalar(
        session,
        "CHANNEL_INSERT_IF_NAME_FREE",
        insert(Channel)
        .values(id=new_id(), server_id=server_id, name=name, type=channel_type)
        .on_conflict_do_nothing(index_elements=[Channel.server_id, Channel.name])
        .returning(Channel),
    )


async def select_channel(session: AsyncSession, channel_id: uuid.UUID) -> Channel | None:
    return await scalar(
        session, "CHANNEL_GET_BY_ID", select(Channel).where(Channel.id == channel_id)
    )


async def select_channels_of_server(session: AsyncSession, server_id: uuid.UUID) -> list[Channel]:
    """Oldest first (so `general` leads)."""
    rows = await scalars(
        session,
        "CHANNEL_LIST_BY_SERVER",
        select(Channel).where(Channel.server_id == server_id).order_by(Channel.id),
    )
    return list(rows)


async def select_channel_ids_of_server(
    session: AsyncSession, server_id: uuid.UUID
) -> list[uuid.UUID]:
    rows = await scalars(
        session, "CHANNEL_IDS_BY_SERVER", select(Channel.id).where(Channel.server_id == server_id)
    )
    return list(rows)


async def update_channel_if_name_free(
    session: AsyncSession, channel_id: uuid.UUID, changes: dict[str, Any]
) -> Channel | None:
    """None when a rename clashes with another channel's name.
    Runs in a savepoint so the clash does not abort the request's transaction."""
    try:
        async with session.begin_nested():
            return await scalar(
                session,
                "CHANNEL_UPDATE",
                update(Channel)
                .where(Channel.id == channel_id)
                .values(**changes, updated_at=func.now())
                .returning(Channel)
                .execution_options(populate_existing=True),
            )
    except IntegrityError:
        return None


async def delete_channel(session: AsyncSession, channel_id: uuid.UUID) -> None:
    """Its messages go with it."""
    await execute(session, "CHANNEL_DELETE", delete(Channel).where(Channel.id == channel_id))
