"""SQL for servers: rows, invite codes, ownership, and the listing of a
profile's servers."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import Member, Server
from parley.storage.postgres.named import execute, scalar, scalars


async def insert_server(
    session: AsyncSession,
    server_id: uuid.UUID,
    owner_id: uuid.UUID,
    name: str,
    image_url: str | None,
    invite_code: str,
) -> Server:
    server: Server | None = await scalar(
        session,
        "SERVER_INSERT",
        insert(Server)
        .values(
            id=server_id,
            name=name,
            image_url=image_url,
            invite_code=invite_code,
            owner_profile_id=owner_id,
        )
        .returning(Server),
    )
    assert server is not None
    return server


async def select_server(session: AsyncSession, server_id: uuid.UUID) -> Server | None:
    return await scalar(session, "SERVER_GET_BY_ID", select(Server).where(Server.id == server_id))


async def select_server_by_invite_code(session: AsyncSession, code: str) -> Server | None:
    return await scalar(
        session, "SERVER_GET_BY_INVITE_CODE", select(Server).where(Server.invite_code == code)
    )


async def select_servers_of_profile(session: AsyncSession, profile_id: uuid.UUID) -> list[Server]:
    """Oldest first."""
    rows = await scalars(
        session,
        "SERVER_LIST_BY_MEMBER",
        select(Server)
        .join(Member, Member.server_id == Server.id)
        .where(Member.profile_id == profile_id)
        .order_by(Server.id),
    )
    return list(rows)


async def update_server(
    session: AsyncSession, server_id: uuid.UUID, changes: dict[str, Any]
) -> Server | None:
    """Name, image_url, invite_code or owner_profile_id; None when gone."""
    return await scalar(
        session,
        "SERVER_UPDATE",
        update(Server)
        .where(Server.id == server_id)
        .values(**changes, updated_at=func.now())
        .returning(Server)
        .execution_options(populate_existing=True),
    )


async def delete_server(session: AsyncSession, server_id: uuid.UUID) -> None:
    """Members, channels and channel messages go with it."""
    await execute(session, "SERVER_DELETE", delete(Server).where(Server.id == server_id))
