"""API shapes of rooms. A DM's name and image are the other person's; a
channel room has no member list (see the server's) but names its server."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from parley.fields import ApiModel, ImageUrl, Name, schema, unique
from parley.storage.postgres.models import Channel, Conversation, GroupConversation, Profile

RoomType = Literal["dm", "group", "channel"]
# A group is its creator and 2 to 9 others (rooms/groups.py); each id once.
MIN_OTHERS = 2
MAX_OTHERS = 9


def _others(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    unique(ids)
    if not MIN_OTHERS <= len(ids) <= MAX_OTHERS:
        raise ValueError(f"a group needs {MIN_OTHERS} to {MAX_OTHERS} other people")
    return ids


def _newcomers(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    unique(ids)
    if not 1 <= len(ids) <= MAX_OTHERS:
        raise ValueError(f"must name 1 to {MAX_OTHERS} people")
    return ids


Others = Annotated[
    list[uuid.UUID],
    AfterValidator(_others),
    schema(minItems=MIN_OTHERS, maxItems=MAX_OTHERS, uniqueItems=True),
]
Newcomers = Annotated[
    list[uuid.UUID],
    AfterValidator(_newcomers),
    schema(minItems=1, maxItems=MAX_OTHERS, uniqueItems=True),
]


class RoomMember(ApiModel):
    profile_id: uuid.UUID
    name: str
    image_url: str | None
    # group: ADMIN or GUEST; dm: null
    role: str | None


class RoomOut(ApiModel):
    id: uuid.UUID
    type: RoomType
    name: str | None
    image_url: str | None
    members: list[RoomMember]
    created_at: datetime
    # channel rooms only
    server_id: uuid.UUID | None = None
    channel_type: str | None = None


class NewDm(ApiModel):
    type: Literal["dm"]
    profile_id: uuid.UUID


class NewGroup(ApiModel):
    type: Literal["group"]
    profile_ids: Others
    name: Name | None = None
    image_url: ImageUrl | None = None


NewRoom = Annotated[NewDm | NewGroup, Field(discriminator="type")]


class GroupChanges(ApiModel):
    """`PATCH /api/rooms/{id}`: leave a field out to keep it; null clears it."""

    name: Name | None = None
    image_url: ImageUrl | None = None


class NewGroupMembers(ApiModel):
    profile_ids: Newcomers


def room_member(profile: Profile, role: str | None) -> RoomMember:
    return RoomMember(
        profile_id=profile.id, name=profile.name, image_url=profile.image_url, role=role
    )


def dm_room(conversation: Conversation, me: Profile, other: Profile) -> RoomOut:
    return RoomOut(
        id=conversation.id,
        type="dm",
        name=other.name,
        image_url=other.image_url,
        members=[room_member(me, None), room_member(other, None)],
        created_at=conversation.created_at,
    )


def group_room(group: GroupConversation, members: list[tuple[Profile, str]]) -> RoomOut:
    return RoomOut(
        id=group.id,
        type="group",
        name=group.name,
        image_url=group.image_url,
        members=[room_member(profile, role) for profile, role in members],
        created_at=group.created_at,
    )


def channel_room(channel: Channel) -> RoomOut:
    return RoomOut(
        id=channel.id,
        type="channel",
        name=channel.name,
        image_url=None,
        members=[],
        created_at=channel.created_at,
        server_id=channel.server_id,
        channel_type=channel.type,
    )
