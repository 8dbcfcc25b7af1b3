"""The background verifier: finds the drift nobody reported (a MongoDB node
rolled back after an election, a store restored from a backup, a manual edit)
by walking every DM conversation, at a limited rate, forever.

One per deployment: each step first takes or renews a lease row in
PostgreSQL (`antientropy_state`, name `verifier`); the instances that do not
hold it only wait. The walk's cursor lives in the same row, so when the
holder dies another instance resumes the pass where it stopped.

Each step checks one batch of conversations (`Verifier.check`), repairs what
it found through the replay queues (`Repairer`) unless set to report only,
and sleeps so that at most `rate` conversations are checked per second and
the walk works at most `duty` of the time (`wait_after_step`). A storage
error ends the step; any other exception is logged; either way the loop goes
on after a growing pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from parley.replication.divergence import KINDS, Divergence
from parley.replication.repair import Repairer
from parley.replication.verify import Scope, Verifier
from parley.replication.walk import Checkpoint
from parley.resilience import Metrics, StoreGuard
from parley.storage.errors import StorageError
from parley.storage.postgres import antientropy_state
from parley.storage.postgres.antientropy_state import Walk
from parley.storage.records import now_ms

log = structlog.get_logger("parley.antientropy")

NAME = "verifier"
EVERYTHING = Scope()
MAX_BACKOFF = 60.0
# The walk beside live traffic goes in small steps, one MongoDB fingerprint at
# a time: each step is a short burst of work (`parley verify`, run by hand,
# takes bigger batches several at once).
WALK_BATCH = 10
WALK_CONCURRENCY = 1


def wait_after_step(
    checked: int, took: float, *, rate: float, duty: float, longest: float
) -> float:
    """Seconds to wait after a step that checked `checked` conversations in
    `took` seconds. A rate in conversations alone does not bound the walk's
    cost: one conversation may hold 50 messages or 5,000, and on a busy store
    or a slower machine a step takes longer. So the wait also keeps the walk
    working at most `duty` of the time, beside live traffic, whatever it met;
    but never longer than `longest` (half the lease: a longer rest would let
    the lease lapse, and another instance walk beside this one)."""
    return min(longest, max(checked / rate, took * (1 - duty) / duty))


class AntiEntropy:
    def __init__(
        self,
        verifier: Verifier,
        repairer: Repairer | None,
        postgres: StoreGuard[Any],
        metrics: Metrics,
        *,
        holder: str,
        rate: float,
        duty: float,
        pause: float,
        lease: float,
        after_repair: Callable[[], None] = lambda: None,
    ) -> None:
        self.verifier = verifier
        self.repairer = repairer  # None: report only
        self.postgres = postgres
        self.metrics = metrics
        self.holder = holder
        self.rate = rate
        self.duty = duty
        self.pause = pause
        self.lease = lease
        self.after_repair = after_repair
        self.checkpoint = Checkpoint(postgres, NAME)
        self.divergent_total = 0
        self._pass: Counter[str] = Counter()
        self._last: dict[str, Any] = {"leader": False, "lastPass": None}
        self._task: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        """The last result, for `/api/health` details."""
        mode = "repair" if self.repairer else "report-only"
        return {**self._last, "mode": mode, "divergentTotal": self.divergent_total}

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="antientropy")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._last["leader"]:  # let another instance take over at once
            with contextlib.suppress(StorageError):
                await self.postgres.run(
                    "ANTIENTROPY_DROP_LEASE",
                    partial(antientropy_state.drop_lease, name=NAME, holder=self.holder),
                )

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                delay = await self.step()
                failures = 0
            except StorageError as exc:
                log.info("antientropy_interrupted", error=str(exc))
                failures += 1
                delay = min(MAX_BACKOFF, 2.0**failures)
            except Exception:
                log.exception("antientropy_failed")
                failures += 1
                delay = min(MAX_BACKOFF, 2.0**failures)
            await asyncio.sleep(delay)

    async def step(self) -> float:
        """One batch of the walk; returns how long to wait before the next."""
        started = time.monotonic()
        if not await self._lead():
            return self.lease / 2
        walk = await self.checkpoint.load(EVERYTHING)
        if walk.cursor is None and walk.checked == 0:
            self._pass.clear()
        batch = await self.verifier.conversations(EVERYTHING, walk.cursor)
        if not batch:
            await self._finish_pass(walk)  # the mirror's check: work like a step's
            return max(self.pause, self._rest(0, started))
        await self._handle(await self.verifier.check(batch, EVERYTHING))
        done = walk.checked + len(batch)
        await self.checkpoint.save(Walk(walk.scope, batch[-1], done, walk.pass_started_at))
        total = await self.verifier.total(EVERYTHING)
        self.metrics.set_gauge("parley_antientropy_conversations_checked", done)
        self.metrics.set_gauge("parley_antientropy_progress_ratio", min(1.0, done / max(total, 1)))
        self._last["progress"] = {"checked": done, "total": total}
        return self._rest(len(batch), started)

    def _rest(self, checked: int, started: float) -> float:
        took = time.monotonic() - started
        return wait_after_step(
            checked, took, rate=self.rate, duty=self.duty, longest=self.lease / 2
        )

    async def _lead(self) -> bool:
        leader: bool = await self.postgres.run(
            "ANTIENTROPY_LEASE",
            partial(
                antientropy_state.take_lease, name=NAME, holder=self.holder, seconds=self.lease
            ),
        )
        self._last["leader"] = leader
        self.metrics.set_gauge("parley_antientropy_leader", float(leader))
        return leader

    async def _handle(self, found: list[Divergence]) -> None:
        if not found:
            return
        self._pass.update(d.kind for d in found)
        self.divergent_total += len(found)
        self.metrics.set_gauge("parley_antientropy_divergent_total", self.divergent_total)
        for divergence in found:
            log.warning("antientropy_divergent", kind=divergence.kind, id=str(divergence.id))
        if self.repairer is not None:
            await self.repairer.fix_all(found)
            self.after_repair()

    async def _finish_pass(self, walk: Walk) -> None:
        await self._handle(await self.verifier.check_mirror())
        finished = now_ms()
        seconds = max(0.0, (finished - walk.pass_started_at).total_seconds())
        self.metrics.set_gauge("parley_antientropy_last_full_pass_seconds", round(seconds, 3))
        self._last["lastPass"] = {
            "finishedAt": finished.isoformat().replace("+00:00", "Z"),
            "seconds": round(seconds, 3),
            "conversations": walk.checked,
            "divergent": sum(self._pass.values()),
            "byKind": {kind: self._pass.get(kind, 0) for kind in KINDS},
        }
        log.info("antientropy_pass_finished", **self._last["lastPass"])
        next_start = finished + timedelta(seconds=self.pause)
        await self.checkpoint.save(Walk(walk.scope, None, 0, next_start))
