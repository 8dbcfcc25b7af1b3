"""Helpers shared by tests: putting faulted servers back, polling for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from parley.devstack import DevStack


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
    """Poll `check` until it returns True; return the seconds it took."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
