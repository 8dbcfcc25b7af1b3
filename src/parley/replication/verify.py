"""Anti-entropy's comparison of the two stores: read-only, chunked, bounded.

The walk goes through DM conversations in id order, a batch at a time. For
each conversation both stores compute a fingerprint (PostgreSQL in SQL,
MongoDB by streaming the documents through `storage.fingerprint`); equal
fingerprints cost one comparison. Only a conversation whose fingerprints
differ is read row by row, as (id, digest) pages merged by id, and only the
ids whose digests differ are read in full and classified.

In-flight work is never a divergence: ids still in either replay queue
(looked up *before* the records, so a queue entry cannot vanish unseen) and
versions younger than the settle time are skipped, and every suspect is read
again once after a short pause before it is reported.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from parley.replication.divergence import MIRROR_DIFFERENCE, Divergence, classify, in_flight
from parley.resilience import StoreGuard
from parley.storage.fingerprint import ChunkSum
from parley.storage.mongo import antientropy as mongo_ae
from parley.storage.postgres import antientropy as pg_ae
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.records import now_ms

# Background work over batches: longer deadlines than a request's, for every
# call (a request's 0.5 s is too tight for a busy store, and a verifier that
# gives up is no use).
DEADLINE = 30.0
PAGE = 1000
# Conversations per batch, and MongoDB fingerprints computed at once.
BATCH = 50
CONCURRENCY = 4
Fetch = Callable[[uuid.UUID | None, int], Awaitable[list[tuple[uuid.UUID, Any]]]]


@dataclass(frozen=True)
class Scope:
    """What a walk covers: one conversation or all, messages changed since a time or all."""

    room: uuid.UUID | None = None
    since: datetime | None = None

    def key(self) -> str:
        """Identifies the scope in a saved cursor, so only the same walk resumes it."""
        since = self.since.isoformat() if self.since else ""
        return f"room={self.room or ''};since={since}"


async def differing_keys(
    fetch_a: Fetch, fetch_b: Fetch, page: int = PAGE
) -> AsyncIterator[list[uuid.UUID]]:
    """Merge two id-ordered streams of (id, value) page by page; yield the ids
    whose values differ (or that one side lacks). Memory: two pages."""
    after: uuid.UUID | None = None
    while True:
        a, b = await fetch_a(after, page), await fetch_b(after, page)
        full = [rows[-1][0] for rows in (a, b) if len(rows) == page]
        bound = min(full) if full else None
        left = {k: v for k, v in a if bound is None or k <= bound}
        right = {k: v for k, v in b if bound is None or k <= bound}
        diff = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
        if diff:
            yield diff
        if bound is None:
            return
        after = bound


class Verifier:
    def __init__(
        self,
        mongo: StoreGuard[Any],
        postgres: StoreGuard[Any],
        *,
        settle: float = 5.0,
        recheck_delay: float = 0.5,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.settle = timedelta(seconds=settle)
        self.recheck_delay = recheck_delay
        self.batch = batch
        self._slots = asyncio.Semaphore(concurrency)

    async def total(self, scope: Scope) -> int:
        if scope.room is not None:
            return 1
        return int(
            await self.postgres.run(
                "ANTIENTROPY_COUNT", pg_ae.count_conversations, deadline=DEADLINE
            )
        )

    async def conversations(self, scope: Scope, after: uuid.UUID | None) -> list[uuid.UUID]:
        """The next batch of the walk (a `--room` walk is that one conversation)."""
        if scope.room is not None:
            return [scope.room] if after is None or after < scope.room else []
        return list(
            await self.postgres.run(
                "ANTIENTROPY_CONVERSATIONS",
                partial(pg_ae.conversations_after, after=after, limit=self.batch),
                deadline=DEADLINE,
            )
        )

    async def check(self, conversation_ids: list[uuid.UUID], scope: Scope) -> list[Divergence]:
        """The confirmed divergences among these conversations' messages."""
        suspects: dict[uuid.UUID, list[uuid.UUID]] = {}
        for conversation in await self._differing(conversation_ids, scope):
            async for ids in self._differing_rows(conversation, scope):
                found = await self._classify(conversation, ids)
                suspects.setdefault(conversation, []).extend(d.id for d in found)
        if not any(suspects.values()):
            return []
        await asyncio.sleep(self.recheck_delay)
        confirmed: list[Divergence] = []
        for conversation, ids in suspects.items():
            for start in range(0, len(ids), PAGE):
                confirmed += await self._classify(conversation, ids[start : start + PAGE])
        return confirmed

    async def _differing(self, ids: list[uuid.UUID], scope: Scope) -> list[uuid.UUID]:
        postgres = await self.postgres.run(
            "ANTIENTROPY_CHUNK_SUMS",
            partial(pg_ae.chunk_sums, conversation_ids=ids, since=scope.since),
            deadline=DEADLINE,
        )
        mongo = await asyncio.gather(*(self._mongo_sum(c, scope) for c in ids))
        return [
            c for c, theirs in zip(ids, mongo, strict=True) if postgres.get(c, ChunkSum()) != theirs
        ]

    async def _mongo_sum(self, conversation: uuid.UUID, scope: Scope) -> ChunkSum:
        async with self._slots:
            result: ChunkSum = await self.mongo.run(
                "ANTIENTROPY_CHUNK_SUM",
                partial(mongo_ae.chunk_sum, conversation_id=conversation, since=scope.since),
                deadline=DEADLINE,
            )
            return result

    def _differing_rows(
        self, conversation: uuid.UUID, scope: Scope
    ) -> AsyncIterator[list[uuid.UUID]]:
        def reader(row_digests: Callable[..., Any]) -> Callable[..., Any]:
            return partial(row_digests, conversation_id=conversation, since=scope.since)

        return differing_keys(
            self._pages(self.postgres, "ANTIENTROPY_ROWS", reader(pg_ae.row_digests)),
            self._pages(self.mongo, "ANTIENTROPY_ROWS", reader(mongo_ae.row_digests)),
        )

    async def _classify(self, conversation: uuid.UUID, ids: list[uuid.UUID]) -> list[Divergence]:
        """Read these ids in full from both stores (whatever `--since` says, so
        an old version on one side is a different version, not a missing one)."""
        queued = await self._queued(conversation)
        settled_before = now_ms() - self.settle
        postgres = await self.postgres.run(
            "ANTIENTROPY_READ", partial(pg_dm.messages_by_ids, ids=ids), deadline=DEADLINE
        )
        mongo = await self.mongo.run(
            "ANTIENTROPY_READ",
            partial(mongo_ae.messages_in, conversation_id=conversation, ids=ids),
            deadline=DEADLINE,
        )
        pg_by_id = {r.id: r for r in postgres}
        mongo_by_id = {r.id: r for r in mongo}
        found = []
        for message_id in ids:
            p, m = pg_by_id.get(message_id), mongo_by_id.get(message_id)
            if message_id in queued or in_flight(p, m, settled_before):
                continue
            divergence = classify(conversation, p, m)
            if divergence is not None:
                found.append(divergence)
        return found

    async def _queued(self, conversation: uuid.UUID) -> set[uuid.UUID]:
        ids = [conversation]
        in_postgres = await self.postgres.run(
            "ANTIENTROPY_QUEUED",
            partial(pg_ae.queued_message_ids, conversation_ids=ids),
            deadline=DEADLINE,
        )
        in_mongo = await self.mongo.run(
            "ANTIENTROPY_QUEUED",
            partial(mongo_ae.queued_message_ids, conversation_ids=ids),
            deadline=DEADLINE,
        )
        return set(in_postgres) | set(in_mongo)

    async def check_mirror(self) -> list[Divergence]:
        """Profiles and DM participants whose MongoDB mirror differs from
        PostgreSQL (queued mirror changes excepted), confirmed once more."""
        first = await self._mirror_suspects()
        if not first:
            return []
        await asyncio.sleep(self.recheck_delay)
        again = {(d.mirror, d.id) for d in await self._mirror_suspects()}
        return [d for d in first if (d.mirror, d.id) in again]

    async def _mirror_suspects(self) -> list[Divergence]:
        found: list[Divergence] = []
        for mirror, pg_fetch, mongo_fetch in (
            ("profile", pg_ae.profiles_after, mongo_ae.profiles_after),
            ("conversation", pg_ae.conversation_pairs_after, mongo_ae.conversation_pairs_after),
        ):
            async for ids in differing_keys(
                self._pages(self.postgres, f"ANTIENTROPY_MIRROR_{mirror.upper()}S", pg_fetch),
                self._pages(self.mongo, f"ANTIENTROPY_MIRROR_{mirror.upper()}S", mongo_fetch),
            ):
                queued = await self.postgres.run(
                    "ANTIENTROPY_QUEUED_MIRROR",
                    partial(pg_ae.queued_mirror_ids, ids=ids),
                    deadline=DEADLINE,
                )
                found += [
                    Divergence(MIRROR_DIFFERENCE, i, mirror=mirror) for i in ids if i not in queued
                ]
        return found

    @staticmethod
    def _pages(guard: StoreGuard[Any], name: str, fetch: Callable[..., Any]) -> Fetch:
        """Pages of (id, digest) from one store, keyset-paged by id."""

        async def pages(after: uuid.UUID | None, limit: int) -> list[tuple[uuid.UUID, Any]]:
            rows: list[tuple[uuid.UUID, Any]] = await guard.run(
                name, partial(fetch, after=after, limit=limit), deadline=DEADLINE
            )
            return rows

        return pages
