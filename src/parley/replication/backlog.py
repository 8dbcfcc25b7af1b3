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
        self._settling: Counter[tuple[uuid.UUID, str]] = Counter()

    def behind(self, conversation_id: object) -> set[str]:
        """The stores that may lack acknowledged changes to this conversation."""
        stores = {store for (room, store) in self._settling if room == conversation_id}
        if conversation_id in self._conversations:
            stores.add("mongodb")
        return stores

    def add(self, conversation_id: uuid.UUID) -> None:
        self._conversations.add(conversation_id)

    def replace(self, conversations: set[uuid.UUID]) -> None:
        self._conversations = set(conversations)

    def hold(self, conversation_id: uuid.UUID, behind: str) -> None:
        """A write answered while `behind` was still writing; until `release`."""
        self._settling[(conversation_id, behind)] += 1

    def release(self, conversation_id: uuid.UUID, behind: str) -> None:
        key = (conversation_id, behind)
        self._settling[key] -= 1
        if self._settling[key] <= 0:
            del self._settling[key]
