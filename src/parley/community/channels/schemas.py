"""API shapes of channels."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator

from parley.fields import ApiModel, Name, NameChange
from parley.storage.postgres.models import Channel

ChannelType = Literal["TEXT", "AUDIO", "VIDEO"]


def _reject_null_type(value: ChannelType | None) -> ChannelType | None:
    if value is None:
        raise ValueError("must not be null")
    return value


class ChannelOut(ApiModel):
    id: uuid.UUID
    server_id: uuid.UUID
    name: str
    type: ChannelType
    created_at: datetime


class NewChannel(ApiModel):
    name: Name
    type: ChannelType = "TEXT"


class ChannelChanges(ApiModel):
    """`PATCH /api/channels/{id}`: leave a field out to keep it."""

    name: NameChange = None
    type: Annotated[ChannelType | None, AfterValidator(_reject_null_type)] = None


def channel_out(row: Channel) -> ChannelOut:
    return ChannelOut(
        id=row.id,
        server_id=row.server_id,
        name=row.name,
        type=row.type,
        created_at=row.created_at,
    )
