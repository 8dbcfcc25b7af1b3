"""DM rules. `get_or_create_dm_conversation` is the only code that creates a DM
conversation: it queues the MongoDB mirror of a new conversation in the same
transaction, so DMs can be authorised while PostgreSQL is down."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from parley.community.members import repository as members
from parley.errors import NotFound, ValidationFailed
from parley.rooms import repository as rooms
from parley.rooms.schemas import RoomOut, dm_room
from parley.storage.postgres.models import Conversation
from parley.storage.postgres.replay_queue import queue_conversation_mirror


async def get_or_create_dm_conversation(
    session: AsyncSession, first: uuid.UUID, second: uuid.UUID
) -> tuple[Conversation, bool]:
    """The conversation of the unordered pair, and whether this call created it.
    Race-safe: INSERT ... ON CONFLICT DO NOTHING, then SELECT."""
    one, two = sorted((first, second))
    created_id = await rooms.insert_conversation_if_absent(session, one, two)
    if created_id is not None:
        await queue_conversation_mirror(session, created_id)
    conversation = await rooms.select_conversation_by_pair(session, one, two)
    assert conversation is not None
    return conversation, created_id is not None


async def open_dm(
    session: AsyncSession, caller_id: uuid.UUID, other_id: uuid.UUID
) -> tuple[RoomOut, bool]:
    """The DM between the caller and `other_id` (created when new). An existing DM
    is always returned; a new one needs a server in common (else 404)."""
    if other_id == caller_id:
        raise ValidationFailed("profileId: you cannot open a DM with yourself.")
    one, two = sorted((caller_id, other_id))
    existing = await rooms.select_conversation_by_pair(session, one, two)
    if existing is not None:
        return await dm_view(session, existing, caller_id), False
    shared = await members.select_profiles_sharing_a_server(session, caller_id, [other_id])
    if other_id not in shared:
        raise NotFound("No such profile.")
    conversation, created = await get_or_create_dm_conversation(session, caller_id, other_id)
    return await dm_view(session, conversation, caller_id), created


async def dm_view(
    session: AsyncSession, conversation: Conversation, caller_id: uuid.UUID
) -> RoomOut:
    pair = (conversation.profile_one_id, conversation.profile_two_id)
    profiles = await rooms.select_profiles(session, pair)
    other_id = pair[1] if pair[0] == caller_id else pair[0]
    return dm_room(conversation, profiles[caller_id], profiles[other_id])
