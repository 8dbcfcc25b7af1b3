"""Direct database factories for tests that need rows without going through the
API (the API's own tests use the API). Append new factories; keep them small."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from parley.auth.tokens import issue_token
from parley.ids import new_id
from parley.realtime.events import ROOM_EVENTS
from parley.resilience.mirror_queue import queue_conversation_mirror, queue_profile_mirror
from parley.state import AppState
from parley.storage.postgres.models import (
    Channel,
    ChannelMessage,
    Conversation,
    GroupConversation,
    GroupConversationMember,
    Member,
    Profile,
    Server,
)


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_person(state: AppState, name: str = "Ada") -> Person:
    profile_id = new_id()
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(Profile).values(
                id=profile_id,
                email=f"{profile_id.hex}@example.com",
                name=name,
                password_hash="not-a-real-hash",
            )
        )
        await queue_profile_mirror(session, profile_id)
    token = issue_token(profile_id, state.settings.jwt_secret.get_secret_value(), 3600)
    return Person(profile_id, name, token)


async def make_dm(state: AppState, a: Person, b: Person) -> uuid.UUID:
    conversation_id = new_id()
    one, two = sorted((a.id, b.id))
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(Conversation).values(id=conversation_id, profile_one_id=one, profile_two_id=two)
        )
        await queue_conversation_mirror(session, conversation_id)
    return conversation_id


async def make_server(
    state: AppState, owner: Person, others: dict[Person, str] | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """A server owned by `owner` (ADMIN) with `others` as {person: role}; returns
    (server_id, general_channel_id)."""
    server_id, channel_id = new_id(), new_id()
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(Server).values(
                id=server_id, name="Srv", invite_code=secrets.token_urlsafe(12),
                owner_profile_id=owner.id,
            )
        )  # fmt: skip
        members = {owner: "ADMIN", **(others or {})}
        for person, role in members.items():
            await session.execute(
                insert(Member).values(
                    id=new_id(), profile_id=person.id, server_id=server_id, role=role
                )
            )
        await session.execute(
            insert(Channel).values(id=channel_id, server_id=server_id, name="general", type="TEXT")
        )
    return server_id, channel_id


async def make_group(state: AppState, admin: Person, guests: list[Person]) -> uuid.UUID:
    group_id = new_id()
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(GroupConversation).values(
                id=group_id, name="grp", created_by_profile_id=admin.id
            )
        )
        for person, role in [(admin, "ADMIN"), *[(g, "GUEST") for g in guests]]:
            await session.execute(
                insert(GroupConversationMember).values(
                    id=new_id(), group_id=group_id, profile_id=person.id, role=role
                )
            )
    return group_id


# --- community and rooms (issue 3) -------------------------------------------


class RecordingRoomEvents:
    """A `RoomEvents` that remembers `access_revoked` calls, for asserting hooks."""

    def __init__(self) -> None:
        self.revoked: list[tuple[set[uuid.UUID], uuid.UUID | None, str]] = []

    async def message_event(self, event_type: str, room_id: uuid.UUID, message: object) -> None:
        return None

    async def access_revoked(
        self, room_ids: Sequence[uuid.UUID], profile_id: uuid.UUID | None, reason: str
    ) -> None:
        self.revoked.append((set(room_ids), profile_id, reason))


def record_room_events(state: AppState) -> RecordingRoomEvents:
    recorder = RecordingRoomEvents()
    state.extras[ROOM_EVENTS] = recorder
    return recorder


async def member_id_of(state: AppState, server_id: uuid.UUID, person: Person) -> uuid.UUID:
    async with state.postgres.sessionmaker() as session:
        member_id = await session.scalar(
            select(Member.id).where(Member.server_id == server_id, Member.profile_id == person.id)
        )
    assert member_id is not None
    return member_id


async def make_channel_message(
    state: AppState, server_id: uuid.UUID, channel_id: uuid.UUID, author: Person
) -> uuid.UUID:
    """A message by `author` (a member of `server_id`) in `channel_id`."""
    member_id = await member_id_of(state, server_id, author)
    message_id = new_id()
    now = datetime.now(UTC)
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(ChannelMessage).values(
                id=message_id, channel_id=channel_id, author_id=author.id, member_id=member_id,
                content="hello", nonce=message_id.hex, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return message_id
