"""Anti-entropy's repair: makes the stores agree on what `Verifier` found,
by the replay version order, without ever deleting a message.

Whatever can go through the replay queues does: a message one store lacks or
holds in an older version is queued for it (`mongo_replay_queue` /
`pg_replay_queue`, marked missed), and the replay worker delivers the version
current *at delivery* with its conditional upserts (the version order). So repair is as safe
beside live traffic and other instances as replay itself, and repeating it is
harmless. Mirror differences are queued the same way.

Two different versions with the same `updatedAt` go the same way: the
version order (`storage.records.version_key`) breaks the tie identically in
both stores' conditional writes, so the winner queued for the other store
replaces the loser there, and a change made since is never overwritten.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import structlog

from parley.replication.divergence import MIRROR_DIFFERENCE, Divergence, winner
from parley.resilience import StoreGuard
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord

log = structlog.get_logger("parley.antientropy")

QUEUED = "queued"


class Repairer:
    def __init__(self, mongo: StoreGuard[Any], postgres: StoreGuard[Any]) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.outcomes: Counter[str] = Counter()

    async def fix_all(self, found: list[Divergence]) -> None:
        for divergence in found:
            outcome = await self.fix(divergence)
            self.outcomes[outcome] += 1
            log.info(
                "antientropy_repaired",
                kind=divergence.kind,
                id=str(divergence.id),
                outcome=outcome,
            )

    async def fix(self, divergence: Divergence) -> str:
        if divergence.kind == MIRROR_DIFFERENCE:
            return await self._queue_mirror(divergence)
        postgres, mongo = divergence.postgres, divergence.mongo
        if postgres is None or mongo is None:
            return await self._queue_for_other(postgres, mongo)
        best = winner(postgres, mongo)
        return await self._queue_for_other(
            best if best is postgres else None, best if best is mongo else None
        )

    async def _queue_for_other(
        self, postgres: MessageRecord | None, mongo: MessageRecord | None
    ) -> str:
        """Queue the version one store has for the store that lacks it."""
        if postgres is not None:
            await self.postgres.run(
                "ANTIENTROPY_QUEUE_FOR_MONGO", partial(replay_queue.queue_missed, record=postgres)
            )
        elif mongo is not None:
            await self.mongo.run(
                "ANTIENTROPY_QUEUE_FOR_POSTGRES", partial(mongo_dm.mark_missed, record=mongo)
            )
        return QUEUED

    async def _queue_mirror(self, divergence: Divergence) -> str:
        """The replay worker rewrites the mirror from PostgreSQL's current row;
        a mirror entry PostgreSQL does not have is left alone (never deleted)."""
        queue = (
            replay_queue.queue_profile_mirror
            if divergence.mirror == "profile"
            else replay_queue.queue_conversation_mirror
        )
        await self.postgres.run("ANTIENTROPY_QUEUE_MIRROR", lambda s: queue(s, divergence.id))
        return QUEUED
