"""API shapes of servers, invite codes and joining."""

from __future__ import annotations

import uuid
from datetime import datetime

from parley.community.channels.schemas import ChannelOut
from parley.community.members.schemas import MemberOut
from parley.fields import ApiModel, ImageUrl, Name, NameChange, unchanged
from parley.storage.postgres.models import Server


class ServerSummary(ApiModel):
    id: uuid.UUID
    name: str
    image_url: str | None
    owner_id: uuid.UUID
    created_at: datetime


class ServerDetail(ServerSummary):
    channels: list[ChannelOut]
    members: list[MemberOut]
    # Shown to ADMINs and MODERATORs only; null for GUESTs.
    invite_code: str | None


class NewServer(ApiModel):
    name: Name
    image_url: ImageUrl | None = None


class ServerChanges(ApiModel):
    """`PATCH /api/servers/{id}`: leave a field out to keep it; `imageUrl: null` clears it."""

    name: NameChange = unchanged()
    image_url: ImageUrl | None = None


class OwnershipTransfer(ApiModel):
    member_id: uuid.UUID


class InviteCode(ApiModel):
    invite_code: str


class JoinResult(ApiModel):
    server: ServerDetail
    member: MemberOut


def server_summary(row: Server) -> ServerSummary:
    return ServerSummary(
        id=row.id,
        name=row.name,
        image_url=row.image_url,
        owner_id=row.owner_profile_id,
        created_at=row.created_at,
    )
