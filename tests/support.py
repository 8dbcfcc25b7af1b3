"""Helpers shared by tests: putting faulted servers back, polling for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pymongo.errors import PyMongoError
from sqlalchemy.exc import DBAPIError

from parley.devstack import DevStack
from parley.storage.errors import StorageError

TRANSIENT = (PyMongoError, DBAPIError, StorageError, OSError)


def ensure_running(stack: DevStack) -> None:
    """Thaw or restart any server a previous test left frozen or dead."""
    for process in (stack.postgres.process, stack.mongo.process):
        if process.frozen:
            process.thaw()
        if not process.running():
            process.start()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05
) -> float:
    """Poll `check` until it returns True; return the seconds it took.

    While servers recover, a check may hit a transient database error; that
    counts as "not yet", and the last such error is reported on timeout."""
    started = time.monotonic()
    last_error: Exception | None = None
    while True:
        try:
            if await check():
                return time.monotonic() - started
        except TRANSIENT as exc:
            last_error = exc
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s") from last_error
        await asyncio.sleep(interval)
