"""Rules about server membership: the membership check every server-scoped rule
starts from (not a member → 404, so nobody learns the server exists), role
requirements (member but not allowed → 403), role changes and kicks."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.channels import repository as channels
from parley.community.members import repository as members
from parley.community.members.schemas import MemberOut, member_out
from parley.community.servers import repository as servers
from parley.errors import Forbidden, NotFound
from parley.paths import found_or_404
from parley.rooms.revocation import revoke_access_after_commit
from parley.state import AppState
from parley.storage.postgres.models import Member, Server

ADMIN = "ADMIN"
MODERATOR = "MODERATOR"
GUEST = "GUEST"
STAFF = frozenset({ADMIN, MODERATOR})


async def membership_or_404(
    session: AsyncSession, server_id: uuid.UUID, profile_id: uuid.UUID, what: str = "server"
) -> Member:
    member = await members.select_membership(session, server_id, profile_id)
    if member is None:
        raise NotFound(f"No such {what}.")
    return member


def require_role(member: Member, roles: Collection[str], action: str) -> None:
    if member.role not in roles:
        allowed = " or ".join(sorted(roles))
        raise Forbidden(f"Only a server {allowed} may {action}.")


async def _target_and_caller(
    session: AsyncSession, member_id: uuid.UUID, caller_id: uuid.UUID
) -> tuple[Member, Member, Server]:
    """The member acted on, the caller's membership in the same server, and the
    server; 404 unless the caller belongs to that server."""
    target = await members.select_member(session, member_id)
    if target is None:
        raise NotFound("No such member.")
    caller = await membership_or_404(session, target.server_id, caller_id, "member")
    server = found_or_404(await servers.select_server(session, target.server_id), "member")
    return target, caller, server


async def change_member_role(
    session: AsyncSession, caller_id: uuid.UUID, member_id: uuid.UUID, role: str
) -> MemberOut:
    target, caller, server = await _target_and_caller(session, member_id, caller_id)
    require_role(caller, {ADMIN}, "change roles")
    if target.profile_id == caller_id:
        raise Forbidden("You cannot change your own role.")
    if target.profile_id == server.owner_profile_id:
        raise Forbidden("The server owner's role cannot be changed.")
    updated = found_or_404(await members.update_member_role(session, target.id, role), "member")
    profile = await members.select_member_profile(session, updated.profile_id)
    return member_out(updated, profile)


def _check_may_kick(caller: Member, target: Member, server: Server) -> None:
    if target.id == caller.id:
        raise Forbidden("You cannot kick yourself; leave the server instead.")
    if target.profile_id == server.owner_profile_id:
        raise Forbidden("The server owner cannot be kicked.")
    if caller.role == ADMIN or (caller.role == MODERATOR and target.role == GUEST):
        return
    raise Forbidden("Only an ADMIN, or a MODERATOR kicking a GUEST, may kick a member.")


async def kick_member(
    session: AsyncSession, state: AppState, caller_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    target, caller, server = await _target_and_caller(session, member_id, caller_id)
    _check_may_kick(caller, target, server)
    await remove_membership(session, state, target, "kicked")


async def remove_membership(
    session: AsyncSession, state: AppState, member: Member, reason: Literal["left", "kicked"]
) -> None:
    """Delete the membership row only (never a conversation or a message) and,
    after commit, end the person's subscriptions to the server's channels."""
    channel_ids = await channels.select_channel_ids_of_server(session, member.server_id)
    await members.delete_member(session, member.id)
    revoke_access_after_commit(session, state, channel_ids, member.profile_id, reason)
