"""People, servers, groups, DMs and messages made with direct inserts, for the
test suite and the benchmarks (the API's own tests use the API). Each factory
writes what the app itself would, mirror queue rows included, so replay copies
them to MongoDB. Development tooling: nothing in the app imports it."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from parley.auth.tokens import issue_token
from parley.ids import new_id
from parley.rooms.dms import get_or_create_dm_conversation
from parley.state import AppState
from parley.storage.postgres.models import (
    Channel,
    ChannelMessage,
    GroupConversation,
    GroupConversationMember,
    Member,
    Profile,
    Server,
)
from parley.storage.postgres.replay_queue import queue_profile_mirror

# Not an argon2 hash: nobody can log in as a factory-made person.
NO_PASSWORD = "not-a-real-hash"  # noqa: S105


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_person(state: AppState, name: str = "Ada", *, token_seconds: int = 3600) -> Person:
    """A profile (with its MongoDB mirror queued) and a token for it."""
    profile_id = new_id()
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(Profile).values(
                id=profile_id,
                email=f"{profile_id.hex}@example.com",
                name=name,
                password_hash=NO_PASSWORD,
            )
        )
        await queue_profile_mirror(session, profile_id)
    token = issue_token(profile_id, state.settings.jwt_secret.get_secret_value(), token_seconds)
    return Person(profile_id, name, token)


async def make_dm(state: AppState, a: Person, b: Person) -> uuid.UUID:
    """The DM between `a` and `b`, made the way the API makes one."""
    async with state.postgres.sessionmaker.begin() as session:
        conversation, _ = await get_or_create_dm_conversation(session, a.id, b.id)
    return conversation.id


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
