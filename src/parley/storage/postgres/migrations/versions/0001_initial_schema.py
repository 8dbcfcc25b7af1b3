"""initial schema

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mongo_replay_queue",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("missed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "not_before",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mongo_replay_queue")),
    )
    op.create_index(
        "ix_mongo_replay_queue_conversation_id",
        "mongo_replay_queue",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        "ix_mongo_replay_queue_entity_id", "mongo_replay_queue", ["entity_id"], unique=False
    )
    op.create_index(
        "ix_mongo_replay_queue_not_before", "mongo_replay_queue", ["not_before"], unique=False
    )
    op.create_table(
        "profiles",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
    )
    op.create_index(
        "uq_profiles_email_lower", "profiles", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("profile_one_id", sa.UUID(), nullable=False),
        sa.Column("profile_two_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "profile_one_id < profile_two_id", name=op.f("ck_conversations_ordered_pair")
        ),
        sa.ForeignKeyConstraint(
            ["profile_one_id"],
            ["profiles.id"],
            name=op.f("fk_conversations_profile_one_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["profile_two_id"],
            ["profiles.id"],
            name=op.f("fk_conversations_profile_two_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "profile_one_id",
            "profile_two_id",
            name=op.f("uq_conversations_profile_one_id_profile_two_id"),
        ),
    )
    op.create_index(
        "ix_conversations_profile_two_id", "conversations", ["profile_two_id"], unique=False
    )
    op.create_table(
        "group_conversations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("created_by_profile_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by_profile_id"],
            ["profiles.id"],
            name=op.f("fk_group_conversations_created_by_profile_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_conversations")),
    )
    op.create_table(
        "servers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("invite_code", sa.String(length=64), nullable=False),
        sa.Column("owner_profile_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["owner_profile_id"],
            ["profiles.id"],
            name=op.f("fk_servers_owner_profile_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servers")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_servers_invite_code")),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("server_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.Enum("TEXT", "AUDIO", "VIDEO", name="channel_type"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_channels_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("server_id", "name", name=op.f("uq_channels_server_id_name")),
    )
    op.create_table(
        "direct_messages",
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("file_url", sa.String(length=2048), nullable=True),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["profiles.id"],
            name=op.f("fk_direct_messages_author_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_direct_messages_conversation_id_conversations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_direct_messages")),
        sa.UniqueConstraint(
            "conversation_id",
            "author_id",
            "nonce",
            name=op.f("uq_direct_messages_conversation_id_author_id_nonce"),
        ),
    )
    op.create_index(
        "ix_direct_messages_conversation_id_id",
        "direct_messages",
        ["conversation_id", "id"],
        unique=False,
    )
    op.create_table(
        "group_conversation_members",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Enum("ADMIN", "GUEST", name="group_role"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["group_conversations.id"],
            name=op.f("fk_group_conversation_members_group_id_group_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_group_conversation_members_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_conversation_members")),
        sa.UniqueConstraint(
            "group_id", "profile_id", name=op.f("uq_group_conversation_members_group_id_profile_id")
        ),
    )
    op.create_index(
        "ix_group_conversation_members_profile_id",
        "group_conversation_members",
        ["profile_id"],
        unique=False,
    )
    op.create_table(
        "group_messages",
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("file_url", sa.String(length=2048), nullable=True),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["profiles.id"],
            name=op.f("fk_group_messages_author_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["group_conversations.id"],
            name=op.f("fk_group_messages_group_id_group_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_messages")),
        sa.UniqueConstraint(
            "group_id",
            "author_id",
            "nonce",
            name=op.f("uq_group_messages_group_id_author_id_nonce"),
        ),
    )
    op.create_index(
        "ix_group_messages_group_id_id", "group_messages", ["group_id", "id"], unique=False
    )
    op.create_table(
        "members",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("server_id", sa.UUID(), nullable=False),
        sa.Column(
            "role", sa.Enum("ADMIN", "MODERATOR", "GUEST", name="member_role"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_members_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_members_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint(
            "profile_id", "server_id", name=op.f("uq_members_profile_id_server_id")
        ),
    )
    op.create_index("ix_members_server_id", "members", ["server_id"], unique=False)
    op.create_table(
        "messages",
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("member_id", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("file_url", sa.String(length=2048), nullable=True),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["profiles.id"],
            name=op.f("fk_messages_author_id_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_messages_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "channel_id", "author_id", "nonce", name=op.f("uq_messages_channel_id_author_id_nonce")
        ),
    )
    op.create_index("ix_messages_channel_id_id", "messages", ["channel_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_channel_id_id", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_members_server_id", table_name="members")
    op.drop_table("members")
    op.drop_index("ix_group_messages_group_id_id", table_name="group_messages")
    op.drop_table("group_messages")
    op.drop_index(
        "ix_group_conversation_members_profile_id", table_name="group_conversation_members"
    )
    op.drop_table("group_conversation_members")
    op.drop_index("ix_direct_messages_conversation_id_id", table_name="direct_messages")
    op.drop_table("direct_messages")
    op.drop_table("channels")
    op.drop_table("servers")
    op.drop_table("group_conversations")
    op.drop_index("ix_conversations_profile_two_id", table_name="conversations")
    op.drop_table("conversations")
    op.drop_index("uq_profiles_email_lower", table_name="profiles")
    op.drop_table("profiles")
    op.drop_index("ix_mongo_replay_queue_not_before", table_name="mongo_replay_queue")
    op.drop_index("ix_mongo_replay_queue_entity_id", table_name="mongo_replay_queue")
    op.drop_index("ix_mongo_replay_queue_conversation_id", table_name="mongo_replay_queue")
    op.drop_table("mongo_replay_queue")
    for enum_name in ("member_role", "group_role", "channel_type"):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
