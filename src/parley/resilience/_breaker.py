"""A circuit breaker per store.

    closed ──(N consecutive unavailability errors)──▶ open
    open   ──(background probe answers)──▶ recovery hooks run ──▶ closed

While open, calls are refused at once (`BreakerOpen`) instead of each waiting
out a deadline on a dead or frozen server. A background probe pings the store
every `probe_interval`; the first answer runs the recovery hooks (for example,
refreshing which conversations MongoDB is still missing, so no read hides a
message) and closes the breaker. State changes are logged once each; refusals
are logged as a periodic count, never one line per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from parley.storage.errors import StorageError

log = structlog.get_logger("parley.breaker")

Probe = Callable[[], Awaitable[object]]
RecoveryHook = Callable[[], Awaitable[None]]
REFUSAL_LOG_INTERVAL = 5.0


class CircuitBreaker:
    def __init__(
        self,
        store: str,
        probe: Probe,
        *,
        failure_threshold: int = 3,
        probe_interval: float = 0.25,
    ) -> None:
        self.store = store
        self._probe = probe
        self.failure_threshold = failure_threshold
        self.probe_interval = probe_interval
        self._failures = 0
        self._open = False
        self._opened = asyncio.Event()
        self._recovery_hooks: list[RecoveryHook] = []
        self._refused = 0
        self._refusals_logged_at = 0.0
        self.opened_count = 0

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def state(self) -> str:
        return "open" if self._open else "closed"

    def on_recovery(self, hook: RecoveryHook) -> None:
        self._recovery_hooks.append(hook)

    def allow(self) -> bool:
        if not self._open:
            return True
        self._refused += 1
        now = time.monotonic()
        if now - self._refusals_logged_at >= REFUSAL_LOG_INTERVAL:
            log.warning("breaker_refusing", store=self.store, refused=self._refused)
            self._refusals_logged_at = now
        return False

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self, error: BaseException) -> None:
        self._failures += 1
        if not self._open and self._failures >= self.failure_threshold:
            self.trip(error)

    def trip(self, error: BaseException | str) -> None:
        """Open now (also used when a health probe finds the store down)."""
        if self._open:
            return
        self._open = True
        self._refused = 0
        self._refusals_logged_at = time.monotonic()
        self.opened_count += 1
        self._opened.set()
        log.warning("breaker_opened", store=self.store, error=str(error))

    async def recover(self) -> None:
        """Run the recovery hooks, then close (the probe does this on its first answer)."""
        for hook in self._recovery_hooks:
            await hook()
        self._open = False
        self._failures = 0
        self._opened.clear()
        log.info("breaker_closed", store=self.store, refused_while_open=self._refused)

    async def run_probe_loop(self) -> None:
        """Background task: while open, probe; on the first answer, recover."""
        while True:
            await self._opened.wait()
            await asyncio.sleep(self.probe_interval)
            try:
                await self._probe()
                await self.recover()
            except StorageError as exc:
                log.debug("breaker_probe_failed", store=self.store, error=str(exc))
