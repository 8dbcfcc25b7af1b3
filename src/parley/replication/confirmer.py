"""Clears the crash-insurance markers of DM changes both stores accepted.

Each DM change carries a marker in both stores (a PostgreSQL queue row, a
MongoDB `pg_replay_queue` entry) written with the change itself. When both stores
accept it, the markers are cleared here in batches, off the request path. If
the process dies first, the replay worker finds the markers after a grace
period and makes sure both stores agree, which is harmless when they already do.

A confirmation that fails (a busy store ran past the deadline) is tried again
for as long as replay's grace period, not left to replay at once. Until it
lands, the markers it holds are known to mark versions both stores have, and
this process's backlog does not count them as misses (`settled_queue_rows`,
`settled_mongo_markers`): without that, on a FerretDB too busy to confirm in
time, reads of conversations PostgreSQL fully has were answered 503 while
MongoDB's breaker was open, as if PostgreSQL might lack them. Only this
process knows what it holds: markers of writes made through other processes
(other `--workers`) still count until their confirmation lands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Generic, TypeVar

import structlog

from parley.resilience import StoreGuard
from parley.storage.errors import StorageError
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.postgres import replay_queue
from parley.storage.records import MessageRecord

log = structlog.get_logger("parley.confirmer")
T = TypeVar("T")
MAX_BUFFER = 50_000
# Markers confirmed together: a tenth of a second of sends per statement, and
# well inside replay's grace period, so replay rarely meets a confirmed change.
CONFIRM_INTERVAL = 0.1
# A confirmation is background work: a busy store gets longer than a request's
# deadline, and one that misses it is tried again.
CONFIRM_DEADLINE = 2.0
# How long after `confirmed` a failed confirmation is still tried again (the
# last try may take CONFIRM_DEADLINE more): replay's grace period
# (`replay.GRACE_SECONDS`, which imports this module), after which replay
# settles the markers itself.
RETRY_FOR = 5.0


class _Outbox(Generic[T]):
    """One store's confirmations: waiting for the next flush, and being sent."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, T]] = []
        self.sending: list[tuple[float, T]] = []

    def add(self, item: T, now: float) -> None:
        if len(self.waiting) + len(self.sending) < MAX_BUFFER:
            self.waiting.append((now, item))

    def take(self) -> list[T]:
        self.sending, self.waiting = self.waiting, []
        return [item for _, item in self.sending]

    def sent(self) -> None:
        self.sending = []

    def failed(self, now: float) -> int:
        """Put what was being sent back in line, but for what has been tried for
        `RETRY_FOR` already; returns how many were given up to replay."""
        retry = [(at, item) for at, item in self.sending if now - at < RETRY_FOR]
        given_up = len(self.sending) - len(retry)
        self.waiting, self.sending = retry + self.waiting, []
        return given_up

    def held(self) -> list[T]:
        return [item for _, item in self.sending + self.waiting]


class Confirmer:
    def __init__(
        self,
        mongo: StoreGuard[Any],
        postgres: StoreGuard[Any],
        interval: float = CONFIRM_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mongo = mongo
        self.postgres = postgres
        self.interval = interval
        self._clock = clock
        self._queue_rows = _Outbox[int]()
        self._versions = _Outbox[MessageRecord]()
        self._wake = asyncio.Event()

    def confirmed(self, queue_row_id: int, version: MessageRecord) -> None:
        """Both stores wrote `version`; its PostgreSQL queue row is `queue_row_id`."""
        now = self._clock()
        self._queue_rows.add(queue_row_id, now)
        self._versions.add(version, now)
        self._wake.set()

    def settled_queue_rows(self) -> set[int]:
        """PostgreSQL queue rows of versions MongoDB accepted, not yet cleared."""
        return set(self._queue_rows.held())

    def settled_mongo_markers(self) -> set[tuple[str, str]]:
        """MongoDB queue entries (`mongo_dm.marker_of`) of versions PostgreSQL
        accepted, not yet cleared."""
        return {mongo_dm.marker_of(version) for version in self._versions.held()}

    async def flush(self) -> None:
        rows, versions = self._queue_rows.take(), self._versions.take()
        sends: list[tuple[_Outbox[Any], Coroutine[Any, Any, None]]] = []
        if rows:
            clear_rows = partial(replay_queue.confirm, queue_row_ids=rows)
            send = self._send(self.postgres, "DM_CONFIRM_POSTGRES_QUEUE", clear_rows)
            sends.append((self._queue_rows, send))
        if versions:
            clear_markers = partial(mongo_dm.confirm, versions=versions)
            send = self._send(self.mongo, "DM_CONFIRM_MONGO_MARKERS", clear_markers)
            sends.append((self._versions, send))
        try:
            results = await asyncio.gather(*(send for _, send in sends), return_exceptions=True)
        except BaseException:  # cancelled (shutdown): what was being sent stays held
            for outbox, _ in sends:
                outbox.failed(self._clock())
            raise
        unexpected: list[BaseException] = []
        for (outbox, _), result in zip(sends, results, strict=True):
            if not isinstance(result, BaseException):
                outbox.sent()
                continue
            given_up = outbox.failed(self._clock())
            if given_up:
                # Markers left behind are reconciled by replay after the grace period.
                log.info("confirm_deferred_to_replay", markers=given_up, error=str(result))
            self._wake.set()
            if not isinstance(result, StorageError):
                unexpected.append(result)
        if unexpected:  # a bug: the supervisor logs it and restarts `run`
            raise unexpected[0]

    @staticmethod
    async def _send(
        guard: StoreGuard[Any], name: str, confirm: Callable[[Any], Coroutine[Any, Any, None]]
    ) -> None:
        await guard.run(name, confirm, deadline=CONFIRM_DEADLINE)

    def pending(self) -> bool:
        return bool(self._queue_rows.waiting or self._versions.waiting)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)
            if self.pending():
                await self.flush()
