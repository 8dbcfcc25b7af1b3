"""Channel rules: ADMINs and MODERATORs of the channel's own server manage its
channels; names are unique within a server; the `general` channel, created with
every server, cannot be created, renamed, retyped or deleted (409)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.channels import repository as channels
from parley.community.channels.schemas import ChannelOut, channel_out
from parley.community.members.service import STAFF, membership_or_404, require_role
from parley.errors import Conflict, NotFound
from parley.rooms.revocation import revoke_access_after_commit
from parley.state import AppState
from parley.storage.postgres.models import Channel

GENERAL = "general"


def _is_general(name: str) -> bool:
    return name.casefold() == GENERAL


def _name_taken(name: str) -> Conflict:
    return Conflict(f"This server already has a channel named {name!r}.", code="ChannelNameTaken")


def _general_is_fixed() -> Conflict:
    return Conflict(
        "The general channel is created with the server and cannot be created, "
        "renamed, retyped or deleted.",
        code="GeneralChannel",
    )


async def create_channel(
    session: AsyncSession, caller_id: uuid.UUID, server_id: uuid.UUID, name: str, kind: str
) -> ChannelOut:
    member = await membership_or_404(session, server_id, caller_id)
    require_role(member, STAFF, "create channels")
    if _is_general(name):
        raise _general_is_fixed()
    channel = await channels.insert_channel_if_name_free(session, server_id, name, kind)
    if channel is None:
        raise _name_taken(name)
    return channel_out(channel)


async def _managed_channel(
    session: AsyncSession, caller_id: uuid.UUID, channel_id: uuid.UUID, action: str
) -> Channel:
    """The channel, if the caller is staff of its server (404 unless a member)."""
    channel = await channels.select_channel(session, channel_id)
    if channel is None:
        raise NotFound("No such channel.")
    member = await membership_or_404(session, channel.server_id, caller_id, "channel")
    require_role(member, STAFF, action)
    return channel


async def update_channel(
    session: AsyncSession, caller_id: uuid.UUID, channel_id: uuid.UUID, changes: dict[str, Any]
) -> ChannelOut:
    channel = await _managed_channel(session, caller_id, channel_id, "change channels")
    if not changes:
        return channel_out(channel)
    if channel.name == GENERAL or _is_general(changes.get("name", "")):
        raise _general_is_fixed()
    updated = await channels.update_channel_if_name_free(session, channel.id, changes)
    if updated is None:
        raise _name_taken(changes["name"])
    return channel_out(updated)


async def delete_channel(
    session: AsyncSession, state: AppState, caller_id: uuid.UUID, channel_id: uuid.UUID
) -> None:
    channel = await _managed_channel(session, caller_id, channel_id, "delete channels")
    if channel.name == GENERAL:
        raise _general_is_fixed()
    await channels.delete_channel(session, channel.id)
    revoke_access_after_commit(session, state, [channel.id], None, "deleted")
