"""revoked sessions (logout) and session cutoffs (logout everywhere)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_revoked_sessions")),
    )
    op.create_index("ix_revoked_sessions_revoked_at", "revoked_sessions", ["revoked_at"])
    op.create_index("ix_revoked_sessions_expires_at", "revoked_sessions", ["expires_at"])
    op.create_table(
        "session_cutoffs",
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_session_cutoffs")),
    )
    op.create_index("ix_session_cutoffs_updated_at", "session_cutoffs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_session_cutoffs_updated_at", table_name="session_cutoffs")
    op.drop_table("session_cutoffs")
    op.drop_index("ix_revoked_sessions_expires_at", table_name="revoked_sessions")
    op.drop_index("ix_revoked_sessions_revoked_at", table_name="revoked_sessions")
    op.drop_table("revoked_sessions")
