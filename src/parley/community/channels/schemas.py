"""API shapes of channels."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator

from parley.fields import ApiModel, Name, NameChange, reject_null, unchanged
from parley.storage.postgres.models import Channel

ChannelType = Literal["TEXT", "AUDIO", "VIDEO"]


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

    name: NameChange = unchanged()
    type: Annotated[ChannelType, BeforeValidator(reject_null)] = unchanged()


def channel_out(row: Channel) -> ChannelOut:
    return ChannelOut(
        id=row.id,
        server_id=row.server_id,
        name=row.name,
        type=row.type,
        created_at=row.created_at,
    )
