"""One checker run: a cluster, the workload and the nemesis for a while, then
heal everything, wait for the stores to converge, and check the history
against both stores' final contents."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.checker.checks import Report, check
from bench.checker.cluster import PEOPLE, Cluster, cluster
from bench.checker.history import Clock, History
from bench.checker.nemesis import Nemesis
from bench.checker.workload import Workload
from bench.common import markdown_table

WORKERS_PER_PERSON = 2
CONVERGE_TIMEOUT = 60.0
QUIET_SECONDS = 2.0
"""After convergence, how long subscribers stay connected for the last events."""


@dataclass
class Config:
    seed: int
    seconds: float
    instances: int = 2
    antientropy: bool = False
    log_dir: Path = Path("bench/results/chaos")
    race_changes: bool = False  # race one person's changes even on FerretDB


@dataclass
class Result:
    config: Config
    history: History
    report: Report
    converged_after: float | None

    def summary(self) -> str:
        ops = Counter(f"{op.kind}:{op.outcome}" for op in self.history.ops)
        faults = Counter(f"{f.action} {'+'.join(f.targets)}" for f in self.history.faults)
        lines = [
            f"seed {self.config.seed}, {self.config.seconds:.0f} s, "
            f"{self.config.instances} instances, one person's changes "
            + ("racing" if self.config.race_changes else "one at a time on FerretDB"),
            f"operations: {len(self.history.ops)} ({_tally(ops)})",
            f"faults: {len(self.history.faults)} ({_tally(faults)})",
            "converged after heal: "
            + (f"{self.converged_after:.1f} s" if self.converged_after is not None else "NO"),
            "counts: " + ", ".join(f"{k} {v}" for k, v in self.report.counts.items()),
        ]
        return "\n".join(lines)

    def markdown(self, machine: str) -> str:
        """The run as a section of docs/BENCHMARKS.md."""
        ops = Counter((op.kind, op.outcome) for op in self.history.ops)
        kinds = sorted({kind for kind, _ in ops})
        op_rows = [[k, ops[(k, "ok")], ops[(k, "fail")], ops[(k, "unknown")]] for k in kinds]
        faults: Counter[str] = Counter(
            f"{f.action} {' + '.join(f.targets)}" for f in self.history.faults
        )
        events = sum(1 for f in self.history.frames if f.version is not None)
        resyncs = sum(1 for f in self.history.frames if f.type == "resync")
        converged = (
            f"{self.converged_after:.1f} s" if self.converged_after is not None else "**no**"
        )
        return "\n\n".join(
            [
                f"`python -m bench.chaos --minutes {self.config.seconds / 60:g} "
                f"--seed {self.config.seed}` on {machine}; {self.config.instances} `parley serve` "
                "instances, 4 people in 3 DMs, 2 clients per person and one WebSocket "
                "subscriber each. The MongoDB role is FerretDB v1: it accepts and ignores "
                "write concerns, so a rollback after an election is not exercised here.",
                markdown_table(["operation", "ok", "fail", "unknown"], op_rows),
                f"Events received: {events}; resyncs: {resyncs}.",
                markdown_table(["fault injected", "times"], faults.most_common()),
                f"Converged after the last fault healed: {converged}.",
                markdown_table(["check", "count"], list(self.report.counts.items())),
            ]
        )

    def minimal_history(self) -> str:
        """For every example of a failed check: the operations on the messages
        it names and the faults, so the run can be read and repeated."""
        lines = [
            f"rerun: python -m bench.chaos --seed {self.config.seed} "
            f"--seconds {self.config.seconds:.0f}"
        ]
        for name, examples in self.report.examples.items():
            for example in examples:
                lines.append(f"[{name}] {example}")
                for op in self.history.ops:
                    if op.message_id and op.message_id in example:
                        lines.append(
                            f"    op {op.index} {op.kind} {op.person}@app{op.instance} "
                            f"{op.start:.2f}-{op.end:.2f} {op.outcome} {op.status} {op.content}"
                        )
        for fault in self.history.faults:
            lines.append(
                f"fault {fault.action} {'+'.join(fault.targets)} {fault.start:.2f}-{fault.end:.2f}"
            )
        return "\n".join(lines)


async def run(config: Config) -> Result:
    config.log_dir.mkdir(parents=True, exist_ok=True)
    history, clock = History(config.seed), Clock()
    async with cluster(config.instances, config.antientropy, config.log_dir) as under_test:
        await _converge(under_test, CONVERGE_TIMEOUT)  # the DM mirror reached MongoDB
        nemesis = Nemesis(under_test, history, clock, config.seed)
        serialize = under_test.stack.mongo.kind == "ferretdb" and not config.race_changes
        async with Workload(
            under_test, history, clock, config.seed, serialize_changes=serialize
        ) as load:
            subscribers = [asyncio.create_task(load.subscriber(p)) for p in PEOPLE]
            workers = [
                asyncio.create_task(load.worker(p, n))
                for p in PEOPLE
                for n in range(WORKERS_PER_PERSON)
            ]
            faults = asyncio.create_task(nemesis.run(load.stopping))
            await asyncio.sleep(config.seconds)
            load.stopping.set()
            await asyncio.gather(faults, *workers)
            converged_after = await _converge(under_test, CONVERGE_TIMEOUT)
            await asyncio.sleep(QUIET_SECONDS)
            load.closing.set()
            await asyncio.gather(*subscribers)
        stores = await under_test.snapshot()
    stamp = time.strftime("%H%M%S")
    history.dump(config.log_dir / f"history-{config.seed}-{stamp}.json")
    (config.log_dir / f"stores-{config.seed}-{stamp}.json").write_text(
        json.dumps({name: [asdict(m) for m in store.values()] for name, store in stores.items()})
    )
    return Result(config, history, check(history, stores), converged_after)


def _tally(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


async def _converge(under_test: Cluster, timeout: float) -> float | None:
    """Seconds until no replay marker is left in either direction, or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if await under_test.replay_backlog() == 0:
                return time.monotonic() - started
        except Exception:  # a store still recovering
            pass
        await asyncio.sleep(0.2)
    return None
