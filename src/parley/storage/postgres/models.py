"""PostgreSQL tables (SQLAlchemy 2 declarative). Storage shapes only: API schemas
live in each domain's `schemas.py` and never expose these classes.

Delete rules are deliberate: deleting a server removes its members, channels and
channel messages; removing a membership (leave, kick) never removes a message
(`messages.member_id` is set to NULL, the author's profile stays); DM rows and
their messages are never deleted through the API.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MemberRole = Enum("ADMIN", "MODERATOR", "GUEST", name="member_role")
GroupRole = Enum("ADMIN", "GUEST", name="group_role")
ChannelType = Enum("TEXT", "AUDIO", "VIDEO", name="channel_type")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _fk(target: str, ondelete: str, *, nullable: bool = False) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey(target, ondelete=ondelete), nullable=nullable
    )


class Profile(Base):
    __tablename__ = "profiles"
    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    image_url: Mapped[str | None] = mapped_column(String(2048))
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    __table_args__ = (Index("uq_profiles_email_lower", func.lower(email), unique=True),)


class Server(Base):
    __tablename__ = "servers"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    image_url: Mapped[str | None] = mapped_column(String(2048))
    invite_code: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    owner_profile_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Member(Base):
    __tablename__ = "members"
    id: Mapped[uuid.UUID] = _id()
    profile_id: Mapped[uuid.UUID] = _fk("profiles.id", "CASCADE")
    server_id: Mapped[uuid.UUID] = _fk("servers.id", "CASCADE")
    role: Mapped[str] = mapped_column(MemberRole, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    __table_args__ = (
        UniqueConstraint("profile_id", "server_id"),
        Index("ix_members_server_id", "server_id"),
    )


class Channel(Base):
    __tablename__ = "channels"
    id: Mapped[uuid.UUID] = _id()
    server_id: Mapped[uuid.UUID] = _fk("servers.id", "CASCADE")
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    type: Mapped[str] = mapped_column(ChannelType, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    __table_args__ = (UniqueConstraint("server_id", "name"),)


class Conversation(Base):
    """A DM room between two profiles; one row per unordered pair
    (`profile_one_id` < `profile_two_id`)."""

    __tablename__ = "conversations"
    id: Mapped[uuid.UUID] = _id()
    profile_one_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    profile_two_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    created_at: Mapped[datetime] = _created()
    __table_args__ = (
        UniqueConstraint("profile_one_id", "profile_two_id"),
        CheckConstraint("profile_one_id < profile_two_id", name="ordered_pair"),
        Index("ix_conversations_profile_two_id", "profile_two_id"),
    )


class GroupConversation(Base):
    __tablename__ = "group_conversations"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str | None] = mapped_column(String(100))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    created_by_profile_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class GroupConversationMember(Base):
    __tablename__ = "group_conversation_members"
    id: Mapped[uuid.UUID] = _id()
    group_id: Mapped[uuid.UUID] = _fk("group_conversations.id", "CASCADE")
    profile_id: Mapped[uuid.UUID] = _fk("profiles.id", "CASCADE")
    role: Mapped[str] = mapped_column(GroupRole, nullable=False)
    created_at: Mapped[datetime] = _created()
    __table_args__ = (
        UniqueConstraint("group_id", "profile_id"),
        Index("ix_group_conversation_members_profile_id", "profile_id"),
    )


class _MessageColumns:
    """Columns every message table shares. Ids are UUIDv7, so ordering by id is
    ordering by creation time; paging indexes are (room, id), change-feed
    indexes (room, updated_at, id)."""

    id: Mapped[uuid.UUID] = _id()
    content: Mapped[str] = mapped_column(Text, nullable=False)
    file_url: Mapped[str | None] = mapped_column(String(2048))
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ChannelMessage(_MessageColumns, Base):
    __tablename__ = "messages"
    channel_id: Mapped[uuid.UUID] = _fk("channels.id", "CASCADE")
    author_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    member_id: Mapped[uuid.UUID | None] = _fk("members.id", "SET NULL", nullable=True)
    __table_args__ = (
        Index("ix_messages_channel_id_id", "channel_id", "id"),
        Index("ix_messages_channel_id_updated_at_id", "channel_id", "updated_at", "id"),
        UniqueConstraint("channel_id", "author_id", "nonce"),
    )


class GroupMessage(_MessageColumns, Base):
    __tablename__ = "group_messages"
    group_id: Mapped[uuid.UUID] = _fk("group_conversations.id", "CASCADE")
    author_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    __table_args__ = (
        Index("ix_group_messages_group_id_id", "group_id", "id"),
        Index("ix_group_messages_group_id_updated_at_id", "group_id", "updated_at", "id"),
        UniqueConstraint("group_id", "author_id", "nonce"),
    )


class DirectMessage(_MessageColumns, Base):
    """The PostgreSQL copy of a DM; same id and fields as the MongoDB document."""

    __tablename__ = "direct_messages"
    conversation_id: Mapped[uuid.UUID] = _fk("conversations.id", "RESTRICT")
    author_id: Mapped[uuid.UUID] = _fk("profiles.id", "RESTRICT")
    __table_args__ = (
        Index("ix_direct_messages_conversation_id_id", "conversation_id", "id"),
        Index(
            "ix_direct_messages_conversation_id_updated_at_id",
            "conversation_id",
            "updated_at",
            "id",
        ),
        UniqueConstraint("conversation_id", "author_id", "nonce"),
    )


class ReplayEntry(Base):
    """Durable queue of changes MongoDB still has to receive from PostgreSQL.

    `kind` is `message` (a DM), `conversation` or `profile` (the mirror DMs need
    while PostgreSQL is down). A row is written in the same transaction as the
    change, so it exists even if the process dies before MongoDB is written.
    `missed` marks rows whose MongoDB write is known to have failed (reads of
    that conversation merge both stores until it drains); the others are crash
    insurance, cleared once MongoDB confirms.
    """

    __tablename__ = "mongo_replay_queue"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    missed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    not_before: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    claim_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created()
    __table_args__ = (
        Index("ix_mongo_replay_queue_not_before", "not_before"),
        Index("ix_mongo_replay_queue_conversation_id", "conversation_id"),
        Index("ix_mongo_replay_queue_entity_id", "entity_id"),
    )


class RevokedSession(Base):
    """A token's session (`sid` claim) that was logged out before it expired.

    Every instance keeps the live rows in memory (parley.security.sessions),
    polling for rows revoked since its last look, so checking a token never
    needs the database. Rows are useless once `expires_at` (the token's `exp`)
    has passed and are pruned then.
    """

    __tablename__ = "revoked_sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime] = _created()
    __table_args__ = (
        Index("ix_revoked_sessions_revoked_at", "revoked_at"),
        Index("ix_revoked_sessions_expires_at", "expires_at"),
    )


class SessionCutoff(Base):
    """Every session of a profile issued before `not_before_ms` is revoked
    ("log out everywhere", a password change). Useless, and pruned, once
    `expires_at` (the cutoff plus the longest token lifetime) has passed."""

    __tablename__ = "session_cutoffs"
    profile_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    not_before_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = _updated()
    __table_args__ = (Index("ix_session_cutoffs_updated_at", "updated_at"),)


class AntiEntropyState(Base):
    """One row per anti-entropy walker (`verifier`, `repair`): who holds it
    (a lease, so one background verifier runs per deployment) and how far its
    walk got (so an interrupted walk resumes instead of starting over)."""

    __tablename__ = "antientropy_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    scope: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    cursor: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    checked: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    pass_started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class RateLimitWindow(Base):
    """Hits counted in one fixed window of one rate-limit key, shared by every
    instance (`storage/postgres/rate_limits.py`). Two adjacent windows make
    a sliding-window estimate; a row is useless once `expires_at` (the end of
    the window after it) has passed and is pruned."""

    __tablename__ = "rate_limit_windows"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_rate_limit_windows_expires_at", "expires_at"),)
