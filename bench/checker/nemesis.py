"""The nemesis: from a seed, one fault at a time on one target or a pair —
kill -9 then restart, or SIGSTOP then SIGCONT — of PostgreSQL, the MongoDB
role and the app instances, with random gaps and durations."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from bench.checker.cluster import Cluster
from bench.checker.history import Clock, Fault, History

STORES = ("postgres", "mongo")


@dataclass
class Nemesis:
    cluster: Cluster
    history: History
    clock: Clock
    seed: int
    gap: tuple[float, float] = (1.0, 4.0)
    duration: tuple[float, float] = (1.0, 6.0)
    pairs: float = 0.3  # the share of faults that hit two targets at once

    async def run(self, stopping: asyncio.Event) -> None:
        rng = random.Random(f"{self.seed}-nemesis")
        while not stopping.is_set():
            if await _wait(stopping, rng.uniform(*self.gap)):
                return
            count = 2 if rng.random() < self.pairs else 1
            targets = tuple(rng.sample(self.cluster.targets, count))
            fault = Fault(rng.choice(("kill", "freeze")), targets, self.clock.now())
            self.history.faults.append(fault)
            await asyncio.gather(*(self._inject(fault.action, t) for t in targets))
            await _wait(stopping, rng.uniform(*self.duration))
            await self.heal(fault)

    async def _inject(self, action: str, target: str) -> None:
        process = self.cluster.target(target)
        await asyncio.to_thread(process.kill if action == "kill" else process.freeze)

    async def heal(self, fault: Fault) -> None:
        """Stores first, so a restarted instance finds them up."""
        for target in sorted(fault.targets, key=lambda t: t not in STORES):
            process = self.cluster.target(target)
            await asyncio.to_thread(process.start if fault.action == "kill" else process.thaw)
        fault.end = self.clock.now()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `event` is set; whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
        return True
    except TimeoutError:
        return False
