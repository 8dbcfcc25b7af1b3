"""Documents by id, one keyed lookup each.

MongoDB serves `{_id: {$in: [...]}}` from its `_id` index, but FerretDB v1 (the
local MongoDB role) pushes only equality filters down to its storage and reads
the whole collection for an `$in`: beside 100,000 DMs a replay batch ran past
its 10-second deadline, every time, and replay never caught up. An equality per
id is served from the index by both; run a few at a time, a batch costs what it
holds on either server, whatever the collection holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

# Lookups in flight at once for one call: a small share of the connection
# pool (PARLEY_MONGO_POOL_SIZE, default 20), so requests still get connections.
LOOKUP_CONCURRENCY = 4


async def find_by_ids(
    collection: AsyncCollection[Any], ids: Sequence[Any], projection: dict[str, Any] | None = None
) -> dict[Any, dict[str, Any]]:
    """The stored documents among `ids`, by `_id` (missing ids are absent)."""
    gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(document_id: Any) -> dict[str, Any] | None:
        async with gate:
            found: dict[str, Any] | None = await collection.find_one(
                {"_id": document_id}, projection
            )
            return found

    found = await asyncio.gather(*(one(i) for i in dict.fromkeys(ids)))
    return {doc["_id"]: doc for doc in found if doc is not None}
