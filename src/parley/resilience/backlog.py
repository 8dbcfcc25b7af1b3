"""Which conversations a single store may not fully answer for right now.

Reads of such a conversation merge both stores, so no acknowledged message (or
newer version) is hidden. Two sources:

- MongoDB's replay backlog: conversations with changes MongoDB is known to have
  missed. Refreshed from PostgreSQL's replay queue on every replay tick and
  before MongoDB's breaker closes, and updated at once when this instance
  misses a MongoDB write.
- Writes still settling on this instance: a DM write answered once one store
  had it, while the other was still writing (see `sync_to_both_databases`).
"""

from __future__ import annotations

import uuid
from collections import Counter


class Backlog:
    def __init__(self) -> None:
        self._conversations: set[uuid.UUID] = set()
        self._settling: Counter[uuid.UUID] = Counter()

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._conversations or conversation_id in self._settling

    def __len__(self) -> int:
        return len(self._conversations)

    def add(self, conversation_id: uuid.UUID) -> None:
        self._conversations.add(conversation_id)

    def replace(self, conversations: set[uuid.UUID]) -> None:
        self._conversations = set(conversations)

    def hold(self, conversation_id: uuid.UUID) -> None:
        """A write to this conversation is in flight until `release`."""
        self._settling[conversation_id] += 1

    def release(self, conversation_id: uuid.UUID) -> None:
        self._settling[conversation_id] -= 1
        if self._settling[conversation_id] <= 0:
            del self._settling[conversation_id]
