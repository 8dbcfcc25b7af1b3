"""What the messages layer offers realtime delivery, registered in the app state:
a message loader (for cross-instance envelopes too large to carry the message)
and a DM access check that works while PostgreSQL is down."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from parley.messages.service import load_message
from parley.state import AppState

MESSAGE_LOADER = "message_loader"
DM_ACCESS = "dm_access"


def install_message_hooks(state: AppState) -> None:
    state.extras[MESSAGE_LOADER] = partial(load_message, state)
    state.extras[DM_ACCESS] = _dm_access(state)


def _dm_access(state: AppState) -> Any:
    async def check(room_id: uuid.UUID, profile_id: uuid.UUID) -> bool:
        return await state.resilience.directory.is_dm_participant(room_id, profile_id)

    return check
