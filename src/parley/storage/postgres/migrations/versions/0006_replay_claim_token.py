"""replay claims carry a token, so a claim whose outcome is unknown can be released

A replay worker whose claim timed out (PostgreSQL frozen as it committed) does
not know whether the rows are leased to it; with a token it releases them once
PostgreSQL answers, instead of leaving them to wait out the whole lease.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mongo_replay_queue", sa.Column("claim_token", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("mongo_replay_queue", "claim_token")
