"""Which conversations MongoDB is known to be missing changes for.

Until a conversation's replay backlog drains, its reads merge both stores so no
acknowledged message is hidden. The set is refreshed from PostgreSQL's replay
queue on every replay tick and before MongoDB's breaker closes, and updated
at once when this instance itself misses a MongoDB write.
"""

from __future__ import annotations

import uuid


class Backlog:
    def __init__(self) -> None:
        self._conversations: set[uuid.UUID] = set()

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._conversations

    def __len__(self) -> int:
        return len(self._conversations)

    def add(self, conversation_id: uuid.UUID) -> None:
        self._conversations.add(conversation_id)

    def replace(self, conversations: set[uuid.UUID]) -> None:
        self._conversations = set(conversations)
