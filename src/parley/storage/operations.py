"""Every named database operation, timed and logged in one place for both
stores: one `db_op` debug line (store, op, ms, ok) and, when an observer is
given (the app's metrics), one observation per call.

The name is always a parameter (`"ROOM_MESSAGES_GET_DM"`), never decoration,
so logs, metrics and benchmarks cannot drift from the code that runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import structlog

log = structlog.get_logger("parley.storage")


class OperationObserver(Protocol):
    def observe(self, store: str, operation: str, seconds: float, ok: bool) -> None: ...


class Operations:
    def __init__(self, store: str, observer: OperationObserver | None = None) -> None:
        self.store = store
        self.observer = observer

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            seconds = time.perf_counter() - started
            log.debug("db_op", store=self.store, op=name, ms=round(seconds * 1000, 2), ok=ok)
            if self.observer is not None:
                self.observer.observe(self.store, name, seconds, ok)
