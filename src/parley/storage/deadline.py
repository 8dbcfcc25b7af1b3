"""Deadlines that return on time even when cleanup would block.

`asyncio.timeout` cancels the operation and then waits for its cleanup; on a
frozen server that cleanup (a rollback, a connection close) blocks until the
driver's own socket timeout. `within_deadline` instead runs the operation as a
task, stops waiting at the deadline, cancels it and lets the cleanup finish in
the background, so the caller gets its answer at the deadline.

Work whose server ends it at the same deadline (PyMongo under
`pymongo.timeout`, a PostgreSQL transaction under its `statement_timeout`) is
better not cancelled at all. In PyMongo a cancellation landing inside its
connection pool, at the instant its own timeout fires, is the one path its
cleanup handles least well: under load after a freeze it left the app's
MongoDB client unable to run a ping until restart while the server answered
others. An asyncpg connection cancelled mid-statement is closed, not reused,
so every late answer under overload opened a new PostgreSQL session. With
`backstop`, the operation is left to end itself and is cancelled only if it
is still running `backstop` seconds later (a frozen server); with `NEVER`, it
is never cancelled by the deadline at all.

PyMongo operations get `NEVER`. Its pool's bookkeeping awaits the pool's lock
(checking a connection in, restoring its counters after a failed checkout),
outside the operation's timeout, and a cancellation landing there leaves the
counters as if the connection were still checked out. Under a burst the lock
queue grew long enough that operations were still waiting for it four
deadlines later; the backstop cancelled them, and once the leaked checkouts
reached `maxPoolSize` every checkout waited out its timeout: MongoDB's breaker
never closed while the server answered other clients in milliseconds (the
HTTP benchmark's warm-up, 2 starts of 6; the pool said 20 requests, 8 active
and 12 idle connections, no operation in flight). Every PyMongo operation ends
on its own: `pymongo.timeout` bounds its checkout and socket reads, and a lock
queue drains.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# `within_deadline(..., backstop=NEVER)`: the operation ends itself, always.
NEVER = math.inf

# Abandoned tasks are kept referenced until they finish (the event loop holds
# tasks only weakly).
_abandoned: set[asyncio.Task[Any]] = set()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so it is not reported as "never retrieved"


async def within_deadline(
    operation: Coroutine[Any, Any, T], seconds: float, *, backstop: float | None = None
) -> T:
    """Await `operation`, raising `TimeoutError` once `seconds` have passed; the
    operation is cancelled then, or only `backstop` seconds later if given
    (never, with `NEVER`)."""
    task = asyncio.ensure_future(operation)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        _abandon(task, backstop)
        raise
    if done:
        return task.result()
    _abandon(task, backstop)
    raise TimeoutError(f"no answer within {seconds:.3f}s")


def _abandon(task: asyncio.Task[Any], backstop: float | None) -> None:
    if backstop is None:
        task.cancel()
    elif backstop != NEVER:
        late_cancel = asyncio.get_running_loop().call_later(backstop, task.cancel)
        task.add_done_callback(lambda _: late_cancel.cancel())
    detach(task)


def detach(task: asyncio.Task[Any]) -> None:
    """Let `task` finish on its own: keep it referenced until done and retrieve
    its outcome so nothing is reported as lost."""
    _abandoned.add(task)
    task.add_done_callback(_forget)
