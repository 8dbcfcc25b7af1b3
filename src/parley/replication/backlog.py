"""Which conversations a single store may not fully answer for right now.

Reads of such a conversation merge both stores, so no acknowledged message (or
newer version) is hidden. Two sources:

- Each store's replay backlog: conversations with changes a store is known to
  have missed. MongoDB's comes from PostgreSQL's replay queue and
  PostgreSQL's from MongoDB's (`missed` entries), refreshed on every replay
  tick and before the store's breaker closes, and updated at once when this
  instance misses a write.
- Writes still settling on this instance: a DM write answered once one store
  had it, while the other was still writing (see `sync_to_both_databases`).

A store's backlog is only as good as its last refresh. With `max_age` set, a
store whose backlog nobody tried to read for longer than that counts as behind
in every conversation: this process was paused or starved meanwhile (a frozen
instance, thawed, knew nothing of what other instances queued while it
slept, and answered a read from a store that had missed a delete). A refresh
that fails because the store holding the queue is down still counts as an
attempt: the view cannot get better, and reads go on from what it says.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Callable

from parley.resilience import MONGODB, POSTGRESQL


class Backlog:
    def __init__(
        self, max_age: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._missed: dict[str, set[uuid.UUID]] = {}
        self._settling: Counter[tuple[uuid.UUID, str]] = Counter()
        self._checked: dict[str, float] = {}
        # When this instance last noted each miss itself, and when the query
        # behind the view in `_missed` was sent: see `replace`.
        self._noted: dict[str, dict[uuid.UUID, float]] = {}
        self._asked: dict[str, float] = {}
        self._max_age = max_age
        self._clock = clock

    def behind(self, conversation_id: object) -> set[str]:
        """The stores that may lack acknowledged changes to this conversation."""
        stores = {store for (room, store) in self._settling if room == conversation_id}
        stores.update(s for s, rooms in self._missed.items() if conversation_id in rooms)
        stores.update(self._unchecked())
        return stores

    def _unchecked(self) -> set[str]:
        if self._max_age is None:
            return set()
        return self.unchecked_since(self._clock() - self._max_age)

    def unchecked_since(self, moment: float) -> set[str]:
        """The stores whose backlog no attempt to read has ended since `moment`."""
        return {s for s in (MONGODB, POSTGRESQL) if self._checked.get(s, -math.inf) < moment}

    def now(self) -> float:
        return self._clock()

    def add(self, conversation_id: uuid.UUID, store: str) -> None:
        """`store` missed a change to this conversation (noted again once the
        miss is marked in the other store)."""
        self._missed.setdefault(store, set()).add(conversation_id)
        self._noted.setdefault(store, {})[conversation_id] = self._clock()

    def replace(self, store: str, conversations: set[uuid.UUID], asked_at: float) -> None:
        """What `store`'s replay backlog held when it was asked at `asked_at`,
        read from the other store. Misses this instance noted since then may
        not be in it, and are kept; an answer to an older query than the one
        already applied (refreshes overlap) changes nothing."""
        self.checked(store)
        if asked_at < self._asked.get(store, -math.inf):
            return
        self._asked[store] = asked_at
        noted = {room: at for room, at in self._noted.get(store, {}).items() if at >= asked_at}
        self._noted[store] = noted
        self._missed[store] = set(conversations) | noted.keys()

    def checked(self, store: str) -> None:
        """An attempt to read `store`'s backlog ended (answered or not)."""
        self._checked[store] = self._clock()

    def missing_in(self, store: str) -> int:
        return len(self._missed.get(store, ()))

    def hold(self, conversation_id: uuid.UUID, behind: str) -> None:
        """A write answered while `behind` was still writing; until `release`."""
        self._settling[(conversation_id, behind)] += 1

    def release(self, conversation_id: uuid.UUID, behind: str) -> None:
        key = (conversation_id, behind)
        self._settling[key] -= 1
        if self._settling[key] <= 0:
            del self._settling[key]
