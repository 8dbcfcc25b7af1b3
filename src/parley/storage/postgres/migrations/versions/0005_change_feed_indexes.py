"""change feed: (room, updated_at, id) indexes on the three message tables

Each room's change feed reads its messages in version order `(updated_at,
id)` after a cursor; these indexes make that one range scan.

`parley migrate` runs every revision in one transaction, so they are built
with a plain CREATE INDEX, which blocks writes to the table while it runs. On
a large production table, create them first by hand with
`CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> ON <table> (<room>, updated_at, id)`;
this revision then finds them and changes nothing.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_messages_channel_id_updated_at_id", "messages", "channel_id"),
    ("ix_group_messages_group_id_updated_at_id", "group_messages", "group_id"),
    ("ix_direct_messages_conversation_id_updated_at_id", "direct_messages", "conversation_id"),
)


def upgrade() -> None:
    for name, table, room in INDEXES:
        op.create_index(name, table, [room, "updated_at", "id"], if_not_exists=True)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table, if_exists=True)
