"""Run a command, and everything it starts, on less CPU: a slower machine's stand-in.

    python -m bench.cpucap --cpus 1 -- python -m bench.failover --run 40

puts this process in a CPU cgroup limited to `--cpus` cores' worth of time
(a quota per 10 ms period, spread over all cores) and then runs the command in
it, so the app, both databases and the load generator all share that much.
A quota is not a slower core: each process still runs at full speed until the
group's time for the period is spent, then waits for the next period (at most
10 ms). For targets in hundreds of milliseconds that is close enough to tell
whether work meant for a machine about twice as slow still fits.

Needs root and a writable cgroup hierarchy (v2 with the `cpu` controller, or
v1's `cpu`); the group is left behind empty and reused next time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PERIOD_US = 10_000
MIN_CPUS = 0.1  # a quota of 1 ms per period, the kernel's smallest
NAME = "parley-cpucap"
V2 = Path("/sys/fs/cgroup")
V1 = Path("/sys/fs/cgroup/cpu")


def enter(cpus: float) -> Path:
    """Create (or reuse) the group, set its quota, move this process into it."""
    quota = round(cpus * PERIOD_US)
    try:
        if (V2 / "cgroup.controllers").exists():
            (V2 / "cgroup.subtree_control").write_text("+cpu\n")
            group = V2 / NAME
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
        elif (V1 / "cpu.cfs_quota_us").exists():
            group = V1 / NAME
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
            (group / "cpu.cfs_quota_us").write_text(f"{quota}\n")
        else:
            raise SystemExit("bench.cpucap: no CPU cgroup hierarchy on this machine")
        (group / "cgroup.procs").write_text(f"{os.getpid()}\n")
    except OSError as exc:
        raise SystemExit(f"bench.cpucap: cannot set a CPU quota here (root?): {exc}") from exc
    return group


def cpus_worth(cpus: float) -> str:
    return f"{cpus:g} CPU's worth" if cpus == 1 else f"{cpus:g} CPUs' worth"


def current_cap() -> float | None:
    """Cores' worth of CPU time this process's group may use, if limited."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and (V2 / "cgroup.controllers").exists():
            limit = (V2 / path.lstrip("/") / "cpu.max").read_text().split()
            if limit[0] != "max":
                return int(limit[0]) / int(limit[1])
        elif "cpu" in controllers.split(","):
            group = V1 / path.lstrip("/")
            quota = int((group / "cpu.cfs_quota_us").read_text())
            if quota > 0:
                return quota / int((group / "cpu.cfs_period_us").read_text())
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=float, required=True, help="cores' worth of CPU time")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command and arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.cpus < MIN_CPUS:
        parser.error(f"give --cpus of at least {MIN_CPUS} and a command after --")
    group = enter(args.cpus)
    print(f"bench.cpucap: {cpus_worth(args.cpus)} in {group}", file=sys.stderr, flush=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
