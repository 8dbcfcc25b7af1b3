"""The room-events contract between the domains that change rooms and messages
(publishers) and realtime delivery (the implementation).

Publishers call these only after the change is durably acknowledged (for
PostgreSQL-only changes: from an `on_commit` callback). The app's `RoomEvents`
is `AppState.events`, the realtime service built in the lifespan.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal, Protocol

MessageEventType = Literal["message.created", "message.updated", "message.deleted"]


class RoomEvents(Protocol):
    async def message_event(
        self, event_type: MessageEventType, room_id: uuid.UUID, message: dict[str, Any]
    ) -> None:
        """A message was created, edited or deleted; `message` is the REST JSON."""

    async def access_revoked(
        self, room_ids: Sequence[uuid.UUID], profile_id: uuid.UUID | None, reason: str
    ) -> None:
        """End subscriptions to `room_ids`: of `profile_id` only, or of everyone
        when it is None (room deleted). `reason` e.g. "left", "kicked", "deleted"."""
