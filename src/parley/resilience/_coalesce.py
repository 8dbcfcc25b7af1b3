"""Group commit: concurrent writes of the same kind share one database call.

While a batch is being written, new items wait; when it returns, everything
that arrived meanwhile goes out together. A lone item therefore goes out at
once (no added delay), and under load each store sees a few large writes
instead of many small ones: one transaction and one round trip for many DMs.

Each caller still gets its own outcome. A batch that fails as a whole on
unavailability fails every item in it; any other failure of a batch (a bad
item, a bug) is retried item by item, so one item cannot fail its neighbours.
A caller that gives up (its deadline passed) before its batch went out is
left out of it. The batches run in a context of their own, not the one of
the caller whose item started them, so each batch's deadline is its own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from parley.storage.deadline import detach
from parley.storage.errors import StorageUnavailable

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")
log = structlog.get_logger("parley.coalesce")

Pending = tuple[I, "asyncio.Future[R]"]
# A batch large enough to amortise a round trip, small enough to stay well
# inside one operation's deadline on a slow store.
MAX_BATCH = 100
# Two writes in flight: one being written while the next fills up; more would
# only queue on the store's side.
MAX_IN_FLIGHT = 2


class Coalescer(Generic[I, R]):
    def __init__(
        self,
        write: Callable[[Sequence[I]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._waiting: deque[Pending[I, R]] = deque()
        self._writers = 0

    async def submit(self, item: I) -> R:
        """Write `item` with whatever else is waiting; its own result or error."""
        outcome: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, outcome))
        if self._writers < self.max_in_flight:
            self._writers += 1
            # A context of its own: the drain outlives this caller and writes
            # for everyone, so it must not inherit this caller's context
            # variables (its `pymongo.timeout` deadline would bound every
            # later batch, which then failed at once as past its deadline).
            loop = asyncio.get_running_loop()
            detach(loop.create_task(self._drain(), context=contextvars.Context()))
        return await outcome

    async def _drain(self) -> None:
        try:
            while batch := self._next_batch():
                try:
                    await self._write_batch(batch)
                except Exception as exc:  # a bug here must not leave callers waiting
                    log.exception("coalesced_write_failed")
                    _fail(batch, exc)
                except BaseException:
                    for _, outcome in batch:
                        outcome.cancel()
                    raise
        finally:
            self._writers -= 1

    def _next_batch(self) -> list[Pending[I, R]]:
        batch: list[Pending[I, R]] = []
        while self._waiting and len(batch) < self.max_batch:
            item, outcome = self._waiting.popleft()
            if not outcome.done():  # not abandoned by its caller
                batch.append((item, outcome))
        return batch

    async def _write_batch(self, batch: list[Pending[I, R]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except StorageUnavailable as exc:
            _fail(batch, exc)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
            else:
                for one in batch:
                    if not one[1].done():
                        await self._write_batch([one])
        else:
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for a batch of {len(batch)}")
            for (_, outcome), result in zip(batch, results, strict=True):
                if not outcome.done():
                    outcome.set_result(result)


def _fail(batch: list[Pending[I, R]], error: BaseException) -> None:
    for _, outcome in batch:
        if not outcome.done():
            outcome.set_exception(error)
