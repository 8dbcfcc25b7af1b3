"""Where a DM send spends its time: `py-spy` samples `parley serve` (one worker
unless told; with more, all of them together) while `wrk` sends DMs, then
prints the functions with the most samples of their own and the most samples
inside them, and what PostgreSQL's busy backends were waiting on (sampled from
`pg_stat_activity` every 20 ms: lock waits between workers show up there).

    .venv/bin/python -m bench.profile_send [--seconds 20] [--top 25]
                                           [--workers 1] [--connections 32]

A sampling profiler barely slows the server (cProfile did, so much that every
send ran past its deadline); the proportions are the point. py-spy is a dev
dependency; it needs ptrace, which root has.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.common import bench_settings, bench_stack, make_dm_pair, raw_clients
from bench.http import SEND_LUA, ensure_wrk, run_wrk
from parley.cli.migrate import run_migrations
from parley.devstack.ports import free_port
from parley.settings import Settings

CONNECTIONS = 32
WAIT_SAMPLE_SECONDS = 0.02
_BUSY_BACKENDS = """
SELECT coalesce(wait_event_type || '/' || wait_event, 'on CPU') AS waiting, state
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
"""


def serve(port: int, log: Path, workers: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "parley.cli", "serve", "--port", str(port)]
    argv += ["--workers", str(workers)]
    env = {**os.environ, "PARLEY_LOG_LEVEL": "warning"}
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"parley serve did not start; see {log}")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    argv = [str(py_spy), "record", "--pid", str(pid), "--duration", str(seconds)]
    argv += ["--subprocesses"]  # the workers under the supervisor
    return subprocess.Popen(
        [*argv, "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def report(raw: Path, top: int) -> str:
    """Self and total samples per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split("/")[-1] for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inside[frame] += int(count)
    lines = [f"{total} samples"]
    for title, counts in (("own time", own), ("inside", inside)):
        lines.append(f"\n--- most samples, {title} ---")
        lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in counts.most_common(top)]
    return "\n".join(lines)


class WaitSampler:
    """What PostgreSQL's busy backends wait on, counted over the load."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()))

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    async def _sample(self) -> None:
        async with raw_clients(self.settings, pool_size=1) as (pool, _):
            while not self._stop.is_set():
                for row in await pool.fetch(_BUSY_BACKENDS):  # type: ignore[attr-defined]
                    self.counts[f"{row['waiting']} ({row['state']})"] += 1
                self.samples += 1
                await asyncio.sleep(WAIT_SAMPLE_SECONDS)

    def report(self, top: int) -> str:
        lines = [f"\n--- PostgreSQL backends, mean busy per sample ({self.samples} samples) ---"]
        lines += [
            f"{n / max(self.samples, 1):6.2f}  {what}" for what, n in self.counts.most_common(top)
        ]
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="parley-profile-"))
    with bench_stack("profile") as stack:
        settings = bench_settings(stack)
        asyncio.run(run_migrations(settings))
        ada, _, dm = asyncio.run(make_dm_pair(settings))
        port = free_port()
        process = serve(port, work / "serve.log", args.workers)
        waits = WaitSampler(settings)
        try:
            url = f"http://127.0.0.1:{port}/api/rooms/{dm}/messages"
            lua = SEND_LUA.format(token=ada.token)
            run_wrk(wrk, url, lua, args.connections, 3)  # warm up
            sampler = record(process.pid, args.seconds, work / "send.txt")
            with waits:
                load = run_wrk(wrk, url, lua, args.connections, args.seconds)
            sampler.wait(args.seconds + 30)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        print(f"{load} (sampled; {args.workers} worker(s), {args.connections} connections)")
        print(report(work / "send.txt", args.top))
        print(waits.report(args.top))


if __name__ == "__main__":
    main()
