"""Telling realtime delivery that people lost access to rooms, once the change
that took it away has committed (never on rollback).

Used when a member leaves or is kicked from a server, a channel or server is
deleted, and a group member is removed or a group deleted. A failure to
announce is logged and swallowed: the change is already stored, and realtime
re-checks access on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley.state import AppState
from parley.storage.postgres.database import on_commit

RevokeReason = Literal["left", "kicked", "deleted", "removed"]

log = structlog.get_logger("parley.rooms")


def revoke_access_after_commit(
    session: AsyncSession,
    state: AppState,
    room_ids: Iterable[uuid.UUID],
    profile_id: uuid.UUID | None,
    reason: RevokeReason,
) -> None:
    """After commit, end `profile_id`'s subscriptions to `room_ids` (everyone's
    when `profile_id` is None, i.e. the rooms were deleted)."""
    rooms = tuple(room_ids)
    if not rooms:
        return

    async def announce() -> None:
        try:
            await state.events.access_revoked(rooms, profile_id, reason)
        except Exception:
            log.exception("access_revoked_failed", reason=reason, rooms=len(rooms))

    on_commit(session, announce)
