"""`HashingPool`: where CPU- and memory-heavy password hashing runs.

An argon2id hash with argon2-cffi's defaults takes 64 MiB and tens of
milliseconds of CPU. Run in the default thread pool, 50 concurrent logins took
3.2 GB. Here hashes run on a dedicated pool of `concurrency` threads (so at
most `concurrency` x 64 MiB), at most `max_waiting` more wait their turn, and
any beyond that are refused at once with 503 `Overloaded` and `Retry-After`,
instead of queueing without bound. The event loop never runs a hash.

Per process: each instance has its own pool (docs/SECURITY.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from parley.errors import ServiceUnavailable

T = TypeVar("T")


class HashingPool:
    def __init__(self, concurrency: int = 2, max_waiting: int = 64) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.completed = 0
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="parley-hash")
        self._admitted = 0  # running + waiting

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._admitted >= self.concurrency + self.max_waiting:
            raise ServiceUnavailable(
                "Too many sign-ins at once; retry shortly.", code="Overloaded", retry_after=1
            )
        self._admitted += 1
        try:
            # The executor queues beyond `concurrency`; admission above bounds the queue.
            result = await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
            self.completed += 1
            return result
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
