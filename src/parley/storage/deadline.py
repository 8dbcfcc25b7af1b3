"""Deadlines that return on time even when cleanup would block.

`asyncio.timeout` cancels the operation and then waits for its cleanup; on a
frozen server that cleanup (a rollback, a connection close) blocks until the
driver's own socket timeout. `within_deadline` instead runs the operation as a
task, stops waiting at the deadline, cancels it and lets the cleanup finish in
the background, so the caller gets its answer at the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# The drivers' own timeouts (socket, command, commit) are this many deadlines:
# a backstop for work the app has already stopped waiting for, never the limit
# a caller sees.
DRIVER_TIMEOUT_FACTOR = 4

# Abandoned tasks are kept referenced until they finish (the event loop holds
# tasks only weakly).
_abandoned: set[asyncio.Task[Any]] = set()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so it is not reported as "never retrieved"


async def within_deadline(operation: Coroutine[Any, Any, T], seconds: float) -> T:
    """Await `operation`, raising `TimeoutError` once `seconds` have passed."""
    task = asyncio.ensure_future(operation)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        detach(task)
        raise
    if done:
        return task.result()
    task.cancel()
    detach(task)
    raise TimeoutError(f"no answer within {seconds:.3f}s")


def detach(task: asyncio.Task[Any]) -> None:
    """Let `task` finish on its own: keep it referenced until done and retrieve
    its outcome so nothing is reported as lost."""
    _abandoned.add(task)
    task.add_done_callback(_forget)
