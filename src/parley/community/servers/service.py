"""Server rules: creating one (its creator becomes owner and ADMIN, with a
`general` TEXT channel), reading, changing (ADMIN), deleting and transferring
ownership (owner only), invite codes (ADMIN or MODERATOR), joining by invite
(as GUEST) and leaving (anyone but the owner)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.channels import repository as channels
from parley.community.channels.schemas import channel_out
from parley.community.members import repository as members
from parley.community.members.schemas import member_out
from parley.community.members.service import (
    ADMIN,
    GUEST,
    STAFF,
    membership_or_404,
    remove_membership,
    require_role,
)
from parley.community.servers import repository as servers
from parley.community.servers.schemas import (
    JoinResult,
    ServerDetail,
    ServerSummary,
    server_summary,
)
from parley.errors import Conflict, Forbidden, NotFound
from parley.ids import new_id
from parley.paths import found_or_404
from parley.rooms.revocation import revoke_access_after_commit
from parley.state import AppState
from parley.storage.postgres.models import Server

GENERAL_CHANNEL = "general"


def new_invite_code() -> str:
    """128 random bits, URL-safe: unguessable."""
    return secrets.token_urlsafe(16)


async def create_server(
    session: AsyncSession, owner_id: uuid.UUID, name: str, image_url: str | None
) -> ServerDetail:
    server = await servers.insert_server(
        session, new_id(), owner_id, name, image_url, new_invite_code()
    )
    await members.insert_member_if_absent(session, server.id, owner_id, ADMIN)
    await channels.insert_channel_if_name_free(session, server.id, GENERAL_CHANNEL, "TEXT")
    return await _detail(session, server, ADMIN)


async def list_servers(session: AsyncSession, profile_id: uuid.UUID) -> list[ServerSummary]:
    return [
        server_summary(row) for row in await servers.select_servers_of_profile(session, profile_id)
    ]


async def get_server(
    session: AsyncSession, caller_id: uuid.UUID, server_id: uuid.UUID
) -> ServerDetail:
    member = await membership_or_404(session, server_id, caller_id)
    return await _detail(session, await _server(session, server_id), member.role)


async def update_server(
    session: AsyncSession, caller_id: uuid.UUID, server_id: uuid.UUID, changes: dict[str, Any]
) -> ServerDetail:
    member = await membership_or_404(session, server_id, caller_id)
    require_role(member, {ADMIN}, "change the server")
    server = await _server(session, server_id)
    if changes:
        server = await _updated(session, server_id, changes)
    return await _detail(session, server, member.role)


async def delete_server(
    session: AsyncSession, state: AppState, caller_id: uuid.UUID, server_id: uuid.UUID
) -> None:
    await membership_or_404(session, server_id, caller_id)
    server = await _server(session, server_id)
    _require_owner(server, caller_id, "delete the server")
    channel_ids = await channels.select_channel_ids_of_server(session, server_id)
    await servers.delete_server(session, server_id)
    revoke_access_after_commit(session, state, channel_ids, None, "deleted")


async def transfer_ownership(
    session: AsyncSession, caller_id: uuid.UUID, server_id: uuid.UUID, member_id: uuid.UUID
) -> ServerDetail:
    """Make another member the owner; they become ADMIN, the old owner stays ADMIN."""
    await membership_or_404(session, server_id, caller_id)
    server = await _server(session, server_id)
    _require_owner(server, caller_id, "transfer ownership")
    target = await members.select_member(session, member_id)
    if target is None or target.server_id != server_id:
        raise NotFound("No such member in this server.")
    promoted = await members.update_member_role(session, target.id, ADMIN)
    found_or_404(promoted, "member in this server")
    server = await _updated(session, server_id, {"owner_profile_id": target.profile_id})
    return await _detail(session, server, ADMIN)


async def rotate_invite_code(
    session: AsyncSession, caller_id: uuid.UUID, server_id: uuid.UUID
) -> str:
    """A fresh invite code; the previous one stops working at once."""
    member = await membership_or_404(session, server_id, caller_id)
    require_role(member, STAFF, "create invite codes")
    server = await _updated(session, server_id, {"invite_code": new_invite_code()})
    return server.invite_code


async def join_by_invite(session: AsyncSession, caller_id: uuid.UUID, code: str) -> JoinResult:
    """Join as GUEST; joining again returns the existing membership unchanged."""
    server = await servers.select_server_by_invite_code(session, code)
    if server is None:
        raise NotFound("No such invite.")
    await members.insert_member_if_absent(session, server.id, caller_id, GUEST)
    member = await membership_or_404(session, server.id, caller_id)
    detail = await _detail(session, server, member.role)
    joined = next(out for out in detail.members if out.id == member.id)
    return JoinResult(server=detail, member=joined)


async def leave_server(
    session: AsyncSession, state: AppState, caller_id: uuid.UUID, server_id: uuid.UUID
) -> None:
    member = await membership_or_404(session, server_id, caller_id)
    server = await _server(session, server_id)
    if server.owner_profile_id == caller_id:
        raise Conflict(
            "The owner cannot leave the server; delete it or transfer ownership first.",
            code="OwnerCannotLeave",
        )
    await remove_membership(session, state, member, "left")


async def _server(session: AsyncSession, server_id: uuid.UUID) -> Server:
    server = await servers.select_server(session, server_id)
    if server is None:
        raise NotFound("No such server.")
    return server


async def _updated(session: AsyncSession, server_id: uuid.UUID, changes: dict[str, Any]) -> Server:
    return found_or_404(await servers.update_server(session, server_id, changes), "server")


def _require_owner(server: Server, caller_id: uuid.UUID, action: str) -> None:
    if server.owner_profile_id != caller_id:
        raise Forbidden(f"Only the server's owner may {action}.")


async def _detail(session: AsyncSession, server: Server, viewer_role: str) -> ServerDetail:
    channel_rows = await channels.select_channels_of_server(session, server.id)
    member_rows = await members.select_members_with_profiles(session, server.id)
    summary = server_summary(server)
    return ServerDetail(
        **summary.model_dump(),
        channels=[channel_out(row) for row in channel_rows],
        members=[member_out(member, profile) for member, profile in member_rows],
        invite_code=server.invite_code if viewer_role in STAFF else None,
    )
