"""PostgreSQL's `mongo_replay_queue`: the durable list of changes MongoDB must
get from PostgreSQL (DM versions, and the conversation and profile mirror).

A DM's queue row is written in the same statement as the DM itself
(`direct_messages.py`); the mirror rows are written here, in the transaction of
the community change they describe. The replay worker leases rows with
`claim_due`, delivers them, then `confirm`s or `release`s them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, any_, bindparam, delete, func, insert, not_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import ReplayEntry
from parley.storage.records import MessageRecord

# What a queue row asks MongoDB to receive.
MESSAGE = "message"
CONVERSATION = "conversation"
PROFILE = "profile"

_queue: Table = ReplayEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class QueueEntry:
    id: int
    kind: str
    entity_id: uuid.UUID
    missed: bool


async def queue_conversation_mirror(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """A DM conversation was created: MongoDB needs its participants."""
    await session.execute(
        insert(_queue).values(
            kind=CONVERSATION,
            entity_id=conversation_id,
            conversation_id=conversation_id,
            missed=True,  # nothing else writes the mirror: due at once
        )
    )


async def queue_profile_mirror(session: AsyncSession, profile_id: uuid.UUID) -> None:
    """A profile was created or renamed: MongoDB needs its name and image."""
    await session.execute(insert(_queue).values(kind=PROFILE, entity_id=profile_id, missed=True))


async def mark_missed(session: AsyncSession, queue_row_id: int) -> None:
    """MongoDB missed this change: replay it now, and merge reads meanwhile."""
    await session.execute(
        update(_queue).where(_queue.c.id == queue_row_id).values(missed=True, not_before=func.now())
    )


async def queue_missed(session: AsyncSession, record: MessageRecord) -> None:
    """Queue a message MongoDB is missing (found during a nonce retry)."""
    await session.execute(
        insert(_queue).values(
            kind=MESSAGE, entity_id=record.id, conversation_id=record.room_id, missed=True
        )
    )


async def confirm(session: AsyncSession, queue_row_ids: Sequence[int]) -> None:
    """MongoDB has these changes: drop their queue rows."""
    if queue_row_ids:
        await session.execute(delete(_queue).where(_queue.c.id.in_(list(queue_row_ids))))


def _seconds_ago(seconds: float) -> object:
    return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def claim_due(
    session: AsyncSession, limit: int, grace_seconds: float, lease_seconds: float, token: str
) -> list[QueueEntry]:
    """Lease up to `limit` due rows under `token`. `FOR UPDATE SKIP LOCKED` lets
    several instances claim concurrently without sharing a row; insurance rows
    younger than the grace period are left to the request that wrote them."""
    due = (
        select(_queue.c.id)
        .where(
            _queue.c.not_before <= func.now(),
            (_queue.c.missed.is_(True))
            | (
                _queue.c.created_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds)
            ),
        )
        .order_by(_queue.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(_queue)
        .where(_queue.c.id.in_(due))
        .values(
            not_before=_seconds_ago(-lease_seconds),
            attempts=_queue.c.attempts + 1,
            claim_token=token,
        )
        .returning(_queue.c.id, _queue.c.kind, _queue.c.entity_id, _queue.c.missed)
    )
    rows = (await session.execute(statement)).all()
    return [QueueEntry(*row) for row in rows]


async def release(session: AsyncSession, queue_row_ids: Sequence[int]) -> None:
    """Delivery failed: make the rows due again now instead of after the lease."""
    if queue_row_ids:
        await session.execute(
            update(_queue).where(_queue.c.id.in_(list(queue_row_ids))).values(not_before=func.now())
        )


async def release_claim(session: AsyncSession, token: str) -> None:
    """A claim whose outcome is unknown (it timed out): whatever it leased is due
    again now."""
    await session.execute(
        update(_queue)
        .where(_queue.c.claim_token == token)
        .values(not_before=func.now(), claim_token=None)
    )


async def conversations_with_missed(
    session: AsyncSession, overdue_seconds: float, settled: Collection[int] = ()
) -> set[uuid.UUID]:
    """Conversations MongoDB may lack changes for (reads merge them): rows
    marked missed, and insurance rows no confirmation cleared within
    `overdue_seconds` (the write to MongoDB may have failed with its mark).
    An insurance row in `settled` (MongoDB is known to have accepted its
    version, the confirmation still on its way) is no miss."""
    overdue = _queue.c.created_at < func.now() - func.make_interval(
        0, 0, 0, 0, 0, 0, overdue_seconds
    )
    if settled:
        known = bindparam("settled", sorted(settled), type_=ARRAY(_queue.c.id.type))
        overdue = overdue & not_(_queue.c.id == any_(known))
    rows = await session.execute(
        select(_queue.c.conversation_id)
        .where(_queue.c.missed.is_(True) | overdue, _queue.c.kind == MESSAGE)
        .distinct()
    )
    return {row[0] for row in rows if row[0] is not None}
