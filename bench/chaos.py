"""A randomized fault checker in the Jepsen style (bench/checker).

Two or more `parley serve` instances on a fresh dev stack; clients send, edit,
delete and read DMs and subscribe over WebSockets while a nemesis kills,
freezes and restarts PostgreSQL, the MongoDB role and the instances, chosen
from a seed. Afterwards every fault is healed, the stores converge, and the
checker counts every broken guarantee (bench/checker/checks.py). Exit status 0
when every count is 0; otherwise the seed and a minimal history are printed.

    .venv/bin/python -m bench.chaos --minutes 30 --seed 7 --record
    .venv/bin/python -m bench.chaos --seconds 60 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bench.checker.run import Config, run
from bench.common import machine, write_section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="write the run to BENCHMARKS.md")
    parser.add_argument(
        "--antientropy",
        action="store_true",
        help="run the background verifier too (it repairs what it finds)",
    )
    parser.add_argument(
        "--race-changes",
        action="store_true",
        help="let one person's edits and deletes race even on FerretDB (see workload.py)",
    )
    args = parser.parse_args()
    seconds = args.minutes * 60 if args.minutes else args.seconds
    config = Config(args.seed, seconds, args.instances, args.antientropy)
    config.race_changes = args.race_changes
    result = asyncio.run(run(config))
    print(result.summary())
    if args.record:
        write_section("## Chaos checker", result.markdown(machine()))
    if result.report.ok and result.converged_after is not None:
        return 0
    print(result.minimal_history())
    return 1


if __name__ == "__main__":
    sys.exit(main())
