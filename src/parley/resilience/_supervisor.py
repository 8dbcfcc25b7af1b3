"""Supervised background work: a loop that fails is logged, counted and
restarted, never silently gone.

A worker (a breaker's probe loop, the replay worker, the confirmer, the
realtime transport) is an async function meant to run until cancelled. If it
raises, or returns, the supervisor logs it with its traceback, counts it in
`parley_worker_failures_total{worker}`, waits (doubling from `MIN_BACKOFF` to
`MAX_BACKOFF`) and starts it again. A worker that failed `FAILING_AFTER` times
in a row without a healthy stretch in between is reported by `failing()`, which
`/api/health` shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from parley.resilience._metrics import Metrics

log = structlog.get_logger("parley.supervisor")

Job = Callable[[], Awaitable[None]]
MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
# A run this long resets the count: the failure was not a tight loop.
HEALTHY_RUN = 30.0
FAILING_AFTER = 3


@dataclass
class _Record:
    failures: int = 0
    last_error: str = ""


class Supervisor:
    def __init__(
        self,
        metrics: Metrics,
        *,
        min_backoff: float = MIN_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self.metrics = metrics
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._records: dict[str, _Record] = {}

    def spawn(self, name: str, job: Job) -> None:
        self._records[name] = _Record()
        self._tasks[name] = asyncio.create_task(self._keep(name, job), name=name)

    def failing(self) -> dict[str, str]:
        """Workers that keep failing: name → their last error."""
        return {
            name: record.last_error
            for name, record in self._records.items()
            if record.failures >= FAILING_AFTER
        }

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _keep(self, name: str, job: Job) -> None:
        record = self._records[name]
        while True:
            started = time.monotonic()
            try:
                await job()
                error = "returned"
                log.error("worker_returned", worker=name)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
                log.exception("worker_failed", worker=name)
            if time.monotonic() - started >= HEALTHY_RUN:
                record.failures = 0
            record.failures += 1
            record.last_error = error
            self.metrics.worker_failed(name)
            delay = self.min_backoff * 2 ** (record.failures - 1)
            await asyncio.sleep(min(self.max_backoff, delay))
