"""The short seeded run of the chaos checker (bench/chaos.py): two app
instances, concurrent clients and subscribers, and a nemesis killing and
freezing PostgreSQL, the MongoDB role and the instances. Every count the
checker reports must be 0. Long runs: `python -m bench.chaos --minutes 30`.
On FerretDB one person's edits and deletes run one at a time: its conditional
replace is not atomic, which MongoDB's is (bench/checker/workload.py)."""

from __future__ import annotations

from pathlib import Path

from bench.checker.run import Config, run

SEED = 20261130
SECONDS = 45.0


async def test_no_guarantee_breaks_under_random_faults(tmp_path: Path) -> None:
    result = await run(Config(SEED, SECONDS, instances=2, log_dir=tmp_path))
    print(result.summary())
    assert result.history.faults, "the nemesis injected no fault"
    assert result.converged_after is not None, result.minimal_history()
    assert result.report.ok, result.summary() + "\n" + result.minimal_history()
