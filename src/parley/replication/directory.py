"""What a DM needs from PostgreSQL-owned data, with the MongoDB mirror as
fallback: a conversation's two participants and authors' names and images.

Participants of a DM never change, so they are cached in-process (bounded).
Author views are reused for `AUTHOR_TTL` seconds: a busy conversation renders
the same few authors hundreds of times a second, and a rename shows up in new
renders on this instance at once (`forget`) and on other instances within the
TTL. PostgreSQL stays first whenever it answers (the mirror may lag it by a
replay interval).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from parley.resilience import (
    MongoOperation,
    PostgresOperation,
    StoreGuard,
    with_postgres_fallback,
)
from parley.storage.errors import StorageUnavailable
from parley.storage.mongo import mirror as mongo_mirror
from parley.storage.postgres import mirror as pg_mirror
from parley.storage.records import Author

T = TypeVar("T")
Pair = tuple[uuid.UUID, uuid.UUID]
CACHE_SIZE = 100_000
AUTHOR_TTL = 1.0


class Directory:
    def __init__(
        self, mongo: StoreGuard[Any], postgres: StoreGuard[Any], hedge_after: float | None = None
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.hedge_after = hedge_after
        self._pairs: OrderedDict[uuid.UUID, Pair] = OrderedDict()
        self._authors: OrderedDict[uuid.UUID, tuple[float, Author]] = OrderedDict()
        self._renames = 0  # bumped by `forget`

    def cached_participants(self, conversation_id: uuid.UUID) -> Pair | None:
        return self._pairs.get(conversation_id)

    def remember(self, conversation_id: uuid.UUID, pair: Pair) -> None:
        self._pairs[conversation_id] = pair
        if len(self._pairs) > CACHE_SIZE:
            self._pairs.popitem(last=False)

    async def mirrored_participants(self, conversation_id: uuid.UUID) -> Pair | None:
        """The pair from MongoDB's mirror alone (None: not a DM it knows, or
        MongoDB unavailable); for hedging a PostgreSQL lookup that is slow."""
        try:
            pair: Pair | None = await self.mongo.run(
                "DM_PARTICIPANTS_MIRROR",
                partial(mongo_mirror.dm_participants, conversation_id=conversation_id),
            )
        except StorageUnavailable:
            return None
        if pair is not None:
            self.remember(conversation_id, pair)
        return pair

    async def dm_participants(self, conversation_id: uuid.UUID) -> Pair | None:
        cached = self._pairs.get(conversation_id)
        if cached is not None:
            return cached
        pair: Pair | None = await self._postgres_first(
            "DM_PARTICIPANTS",
            partial(pg_mirror.dm_participants, conversation_id=conversation_id),
            partial(mongo_mirror.dm_participants, conversation_id=conversation_id),
            complete=lambda found: found is not None,
        )
        if pair is not None:
            self.remember(conversation_id, pair)
        return pair

    async def is_dm_participant(self, conversation_id: uuid.UUID, profile_id: uuid.UUID) -> bool:
        pair = await self.dm_participants(conversation_id)
        return pair is not None and profile_id in pair

    def forget(self, profile_id: uuid.UUID) -> None:
        """The profile changed: render it afresh from now on (on this instance)."""
        self._authors.pop(profile_id, None)
        self._renames += 1

    async def authors(self, profile_ids: set[uuid.UUID]) -> dict[uuid.UUID, Author]:
        now = time.monotonic()
        known: dict[uuid.UUID, Author] = {}
        for profile_id in profile_ids:
            cached = self._authors.get(profile_id)
            if cached is not None and cached[0] > now:
                known[profile_id] = cached[1]
        missing = profile_ids - known.keys()
        if missing:
            renames = self._renames
            found = await self._load_authors(list(missing))
            # A rename during the load may have been read before it committed.
            cacheable = found.values() if renames == self._renames else ()
            for author in cacheable:
                self._authors[author.id] = (now + AUTHOR_TTL, author)
                self._authors.move_to_end(author.id)
            while len(self._authors) > CACHE_SIZE:
                self._authors.popitem(last=False)
            known.update(found)
        return known

    async def _load_authors(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Author]:
        authors: dict[uuid.UUID, Author] = await self._postgres_first(
            "DM_AUTHORS",
            partial(pg_mirror.authors, ids=ids),
            partial(mongo_mirror.authors, ids=ids),
            complete=lambda found: len(found) == len(ids),
        )
        return authors

    async def _postgres_first(
        self,
        name: str,
        postgres_read: PostgresOperation[T],
        mongo_read: MongoOperation[T],
        complete: Callable[[T], bool],
    ) -> T:
        """PostgreSQL owns this data; MongoDB's mirror answers while it cannot,
        and, when PostgreSQL is slow, if its answer is `complete` (the mirror
        may not have caught up with a new profile or conversation yet)."""
        found = await with_postgres_fallback(
            postgres_read,
            mongo_read,
            name,
            mongo=self.mongo,
            postgres=self.postgres,
            hedge_after=self.hedge_after,
            complete=complete,
        )
        return found.value
