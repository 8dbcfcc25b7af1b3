"""Clears the crash-insurance markers of DM changes both stores accepted.

Each DM change carries a marker in both stores (a PostgreSQL queue row, a
MongoDB `pg_replay_queue` entry) written with the change itself. When both stores
accept it, the markers are cleared here in batches, off the request path. If
the process dies first, the replay worker finds the markers after a grace
period and makes sure both stores agree, which is harmless when they already do.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import structlog

from parley.resilience import StoreGuard
from parley.storage.errors import StorageError
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord

log = structlog.get_logger("parley.confirmer")
MAX_BUFFER = 50_000
# Markers confirmed together: a tenth of a second of sends per statement, and
# well inside replay's grace period, so replay rarely meets a confirmed change.
CONFIRM_INTERVAL = 0.1


class Confirmer:
    def __init__(
        self, mongo: StoreGuard[Any], postgres: StoreGuard[Any], interval: float = CONFIRM_INTERVAL
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.interval = interval
        self._queue_rows: list[int] = []
        self._versions: list[MessageRecord] = []
        self._wake = asyncio.Event()

    def confirmed(self, queue_row_id: int, version: MessageRecord) -> None:
        """Both stores wrote `version`; its PostgreSQL queue row is `queue_row_id`."""
        if len(self._queue_rows) < MAX_BUFFER:
            self._queue_rows.append(queue_row_id)
            self._versions.append(version)
        self._wake.set()

    async def flush(self) -> None:
        rows, self._queue_rows = self._queue_rows, []
        versions, self._versions = self._versions, []
        results = await asyncio.gather(
            self.postgres.run(
                "DM_CONFIRM_POSTGRES_QUEUE", partial(replay_queue.confirm, queue_row_ids=rows)
            ),
            self.mongo.run(
                "DM_CONFIRM_MONGO_MARKERS", partial(mongo_dm.confirm, versions=versions)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, StorageError):
                # Markers left behind are reconciled by replay after the grace period.
                log.info("confirm_deferred_to_replay", error=str(result))
            elif isinstance(result, BaseException):
                raise result

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)
            if self._queue_rows:
                await self.flush()
