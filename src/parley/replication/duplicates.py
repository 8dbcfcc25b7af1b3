"""Resolving two messages that share one (conversation, author, nonce).

This happens only after a double fault: a send reached one store only, and that
store was down when the client retried with the same nonce, so the retry could
not find the original and stored a second copy under a new id. Replay meets the
pair when it tries to copy one into the store that holds the other. The rule:
the original (the earlier UUIDv7) is kept in both stores and the later copy is
removed from both, so a nonce means one message everywhere.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import structlog

from parley.resilience import StoreGuard
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.postgres import direct_messages as pg_dm
from parley.storage.postgres import messages as pg_messages
from parley.storage.records import MessageRecord

log = structlog.get_logger("parley.duplicates")


async def resolve_nonce_duplicate(
    record: MessageRecord, mongo: StoreGuard[Any], postgres: StoreGuard[Any]
) -> None:
    """`record` collided with another message holding its nonce in a store."""
    key = (record.room_id, record.author_id, record.nonce)
    twins = [
        await postgres.run(
            "DM_GET_BY_NONCE",
            lambda s: pg_messages.get_by_nonce(s, pg_messages.DIRECT_MESSAGES, *key),
        ),
        await mongo.run("DM_GET_BY_NONCE", lambda db: mongo_dm.get_by_nonce(db, *key)),
    ]
    candidates = {m.id: m for m in [record, *twins] if m is not None}
    keep = candidates[min(candidates)]
    for drop in (m for m in candidates.values() if m.id != keep.id):
        await postgres.run("DM_DROP_DUPLICATE", partial(pg_dm.delete_message, message_id=drop.id))
        await mongo.run("DM_DROP_DUPLICATE", partial(mongo_dm.delete, message_id=drop.id))
        log.warning("nonce_duplicate_resolved", kept=str(keep.id), dropped=str(drop.id))
    await postgres.run("DM_KEEP_ORIGINAL", partial(pg_dm.upsert_many_newer, records=[keep]))
    await mongo.run("DM_KEEP_ORIGINAL", partial(mongo_dm.upsert_many_newer, records=[keep]))
