"""One lease per replay direction whose queue is in MongoDB, so one worker at a
time takes on its entries.

    replay_leases  {_id: "<direction>", holder: "<claim token>", until}

Taking the lease is one conditional upsert of one document: the queue entries
themselves are read, not claimed one by one. (A claim on each entry is an
update of each, which FerretDB v1, the local MongoDB role, runs as one
statement per document: about 1 ms an entry on an idle 2-CPU machine, and
several times that while the same server answers live traffic.)

MongoDB checks the filter as it writes, so two workers never both hold a
lease. FerretDB v1 does not recheck: both may take it, which costs a second
delivery of the same versions, harmless because every replayed write is
conditional on the version order. `until` is on the server's clock, as are
the queue's marks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from parley.storage.mongo.database import MongoDocument
from parley.storage.mongo.schema import REPLAY_LEASES

TO_POSTGRESQL = "to_postgresql"


async def take(
    db: AsyncDatabase[MongoDocument], name: str, holder: str, now: datetime, lease: timedelta
) -> bool:
    """Hold lease `name` as `holder` until `now + lease`, unless another holder
    has it unexpired; True when ours."""
    free = {"$or": [{"until": {"$lt": now}}, {"holder": holder}]}
    try:
        await db[REPLAY_LEASES].update_one(
            {"_id": name, **free}, {"$set": {"holder": holder, "until": now + lease}}, upsert=True
        )
    except DuplicateKeyError:  # the document exists and someone else holds it
        return False
    return True


async def give_up(db: AsyncDatabase[MongoDocument], name: str, holder: str) -> None:
    """End our hold on lease `name` (nothing if another holds it now)."""
    await db[REPLAY_LEASES].delete_one({"_id": name, "holder": holder})
