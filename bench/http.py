"""DM sends and history reads over HTTP: a real `parley serve` beside a raw
baseline app (`bench/baseline_app.py`: the same drivers and pools doing only
the two inserts or the one page query), both driven by `wrk` on loopback.

For 1 and 2 workers, at 8, 32 and 128 connections: sends/s and reads/s with
p50/p99 for Parley and the baseline, and their ratios; Parley's two-worker
over one-worker send ratio; whether any PostgreSQL session or MongoDB
connection was opened after warm-up (connection churn); and the CPU each
process used in the 32-connection cells (on 2 CPUs, the app's workers share
the cores with the databases and wrk).

    .venv/bin/python -m bench.http [--seconds 8] [--runs 3]

`wrk` is installed from Debian's package when missing (apt-get, as root).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import (
    REPO,
    bench_settings,
    bench_stack,
    cpu_by_process,
    describe_servers,
    machine,
    make_dm_pair,
    markdown_table,
    mongo_server_version,
    raw_clients,
    tree_cpu_seconds,
    write_section,
)
from bench.sockets import ConnectionWatch
from parley.cli.migrate import run_migrations
from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess
from parley.devstack.factories import Person
from parley.devstack.ports import free_port
from parley.settings import Settings

CONNECTIONS = (8, 32, 128)
CPU_CELL = 32  # connections of the cells whose CPU use is reported
WORKERS = (1, 2)
TARGETS = ("Parley", "baseline")
WARMUP_SECONDS = 3
READ_DM_SIZE = 60

SEND_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{{"content":"bench ' .. n .. '"}}')
end
"""
READ_LUA = """
wrk.headers["Authorization"] = "Bearer {token}"
"""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian's package ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:  # no request completed in the cell
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(wrk: str, url: str, script: str, connections: int, seconds: int) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        out = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(lua.name)
    return parse_wrk(out, seconds)


def parse_wrk(out: str, seconds: int) -> Load:
    """The cell's goodput and latencies from wrk's `--latency` report."""
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    # Anchored to the line: an unanchored "50%" also matched the end of the
    # "+/- Stdev" column ("62.50%"), and the cell printed p50 as nan.
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (int(errors.group(1)) if errors else 0)
    # Goodput: an answer that failed (a shed 503, say) is fast but did no work.
    return Load((requests - failed) / seconds, p50, p99, failed)


async def preload(url: str, person: Person, room: uuid.UUID, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, headers=person.headers, timeout=10) as http:
        for n in range(count):
            sent = await http.post(f"/api/rooms/{room}/messages", json={"content": f"m{n}"})
            sent.raise_for_status()


@contextlib.contextmanager
def baseline(
    settings: Settings,
    log_dir: Path,
    workers: int,
    sends: tuple[uuid.UUID, uuid.UUID],
    reads: uuid.UUID,
) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "MONGO_URL": settings.mongo_url.get_secret_value(),
        "BASELINE_ROOM": str(sends[0]),
        "BASELINE_AUTHOR": str(sends[1]),
        "BASELINE_READ_ROOM": str(reads),
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.baseline_app:create"]
    argv += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    argv += ["--log-level", "warning", "--app-dir", str(REPO)]
    with (log_dir / f"baseline-{port}.log").open("ab") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/page", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the baseline app did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(15)


@contextlib.contextmanager
def parley(settings: Settings, log_dir: Path, workers: int) -> Iterator[tuple[str, int | None]]:
    app = AppProcess(settings, log_dir, {"PARLEY_LOG_LEVEL": "warning"}, workers=workers)
    app.start()
    try:
        yield app.url, app.pid
    finally:
        app.stop()


def _finished_children_cpu() -> float:
    """CPU seconds of this process's finished children: wrk, once it exited."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cpu_snapshot(stack: DevStack, app_pid: int | None) -> Callable[[], dict[str, float]]:
    """CPU seconds so far: the app (all workers), each server of the stack, wrk."""

    def snapshot() -> dict[str, float]:
        servers = cpu_by_process(stack)
        servers.pop("Python (benchmark + app)")  # the bench only waits for wrk here
        return {"app": tree_cpu_seconds(app_pid), **servers, "wrk": _finished_children_cpu()}

    return snapshot


async def opened_connections(settings: Settings) -> tuple[int, int | None]:
    """PostgreSQL sessions ever opened on Parley's database, and MongoDB
    connections ever created (None where the server does not say)."""
    async with raw_clients(settings, pool_size=1) as (pool, mongo):
        sessions = await pool.fetchval(  # type: ignore[attr-defined]
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        status = await mongo.admin.command("serverStatus")
    created = status.get("connections", {}).get("totalCreated")
    return int(sessions), (int(created) if created is not None else None)


@dataclass
class Row:
    target: str
    workers: int
    connections: int
    sends: Load
    reads: Load
    send_cores: dict[str, float] = field(default_factory=dict)  # CPU s / wall s


@dataclass(frozen=True)
class Paths:
    send_url: str
    read_url: str
    sender_token: str
    reader_token: str

    @property
    def send_lua(self) -> str:
        return SEND_LUA.format(token=self.sender_token)

    @property
    def read_lua(self) -> str:
        return READ_LUA.format(token=self.reader_token)


def warm_up(wrk: str, paths: Paths) -> None:
    """Pools filled, caches warm: what follows measures the steady state."""
    run_wrk(wrk, paths.send_url, paths.send_lua, 32, WARMUP_SECONDS)
    run_wrk(wrk, paths.read_url, paths.read_lua, 32, WARMUP_SECONDS)


def measure(
    wrk: str,
    paths: Paths,
    seconds: int,
    target: str,
    workers: int,
    cpu: Callable[[], dict[str, float]],
) -> list[Row]:
    rows = []
    for connections in CONNECTIONS:
        before, started = cpu(), time.monotonic()
        sends = run_wrk(wrk, paths.send_url, paths.send_lua, connections, seconds)
        after, wall = cpu(), time.monotonic() - started
        cores = {name: (after[name] - before[name]) / wall for name in after}
        reads = run_wrk(wrk, paths.read_url, paths.read_lua, connections, seconds)
        rows.append(Row(target, workers, connections, sends, reads, cores))
        print(target, workers, connections, sends, reads, flush=True)
    return rows


async def one_run(wrk: str, seconds: int, log_dir: Path) -> Run:
    run = Run("")
    for workers in WORKERS:
        for target in TARGETS:
            await one_cell_group(wrk, seconds, log_dir, run, target, workers)
    return run


async def one_cell_group(
    wrk: str, seconds: int, log_dir: Path, run: Run, target: str, workers: int
) -> None:
    """One server at one worker count, on a stack of its own: nothing an
    earlier group left behind (replay work after overloaded cells, dead rows
    for autovacuum, grown collections) is paid for by a later one."""
    with bench_stack("http") as stack:
        settings = bench_settings(stack, PARLEY_LOG_LEVEL="warning")
        await run_migrations(settings)
        sender, _, dm = await make_dm_pair(settings)
        reader, _, small = await make_dm_pair(settings)  # reads: a page of a 60-message DM
        async with raw_clients(settings) as (_, mongo):
            run.servers = describe_servers(stack, await mongo_server_version(mongo))
        page = f"/api/rooms/{small}/messages?limit=50"
        if target == "Parley":
            with parley(settings, log_dir, workers) as (url, pid):
                await preload(url, reader, small, READ_DM_SIZE)
                send = url + f"/api/rooms/{dm}/messages"
                paths = Paths(send, url + page, sender.token, reader.token)
                served = Served(target, workers, settings, cpu_snapshot(stack, pid), stack)
                await run.measure(wrk, paths, seconds, served)
            return
        with parley(settings, log_dir, 1) as (url, _):  # the read DM, written through the API
            await preload(url, reader, small, READ_DM_SIZE)
        with baseline(settings, log_dir, workers, (dm, sender.id), small) as (url, pid):
            paths = Paths(url + "/send", url + "/page", "", "")
            served = Served(target, workers, settings, cpu_snapshot(stack, pid), stack)
            await run.measure(wrk, paths, seconds, served)


@dataclass(frozen=True)
class Served:
    """The server under test in one cell group, and what measures it."""

    target: str
    workers: int
    settings: Settings
    cpu: Callable[[], dict[str, float]]
    stack: DevStack


@dataclass
class Run:
    servers: str
    rows: list[Row] = field(default_factory=list)
    churn: dict[str, tuple[int, str]] = field(default_factory=dict)

    async def measure(self, wrk: str, paths: Paths, seconds: int, served: Served) -> None:
        warm_up(wrk, paths)
        before = await opened_connections(served.settings)
        with ConnectionWatch(served.stack.mongo.port) as watch:
            self.rows += measure(wrk, paths, seconds, served.target, served.workers, served.cpu)
        after = await opened_connections(served.settings)
        key = f"{served.target}, {served.workers} worker(s)"
        self.churn[key] = _delta(before, after, watch.opened)

    def cell(self, target: str, workers: int, connections: int) -> Row:
        return next(
            r
            for r in self.rows
            if (r.target, r.workers, r.connections) == (target, workers, connections)
        )


async def main(seconds: int, runs: int) -> None:
    wrk = ensure_wrk()
    log_dir = REPO / "bench" / "results" / f"http-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    log_dir.mkdir(parents=True)
    print(f"server logs in {log_dir}", flush=True)
    done = [await one_run(wrk, seconds, log_dir) for _ in range(runs)]
    report(done, seconds)


def _delta(
    before: tuple[int, int | None], after: tuple[int, int | None], sampled_mongo: int
) -> tuple[int, str]:
    """PostgreSQL sessions and MongoDB connections opened between `before` and
    `after`, less the one session (and connection) `after` itself opened; where
    the MongoDB role does not count them, what the socket table showed."""
    sessions = after[0] - before[0] - 1
    if before[1] is None or after[1] is None:
        return sessions, f"{sampled_mongo} (sampled)"
    return sessions, str(after[1] - before[1] - 1)


HEADER = [
    "workers", "conns", "Parley /s", "p50", "p99", "baseline /s", "p50", "p99", "ratio", "failed",
]  # fmt: skip


def _table(run: Run, op: str) -> list[list[object]]:
    table: list[list[object]] = []
    for workers in WORKERS:
        for c in CONNECTIONS:
            p = getattr(run.cell("Parley", workers, c), op)
            b = getattr(run.cell("baseline", workers, c), op)
            table.append([
                workers, c, f"{p.rps:,.0f}", f"{p.p50_ms:.1f}", f"{p.p99_ms:.1f}",
                f"{b.rps:,.0f}", f"{b.p50_ms:.1f}", f"{b.p99_ms:.1f}", f"{p.rps / b.rps:.2f}",
                f"{p.failed} / {b.failed}",
            ])  # fmt: skip
    return table


def _cpu_table(run: Run) -> tuple[list[str], list[list[object]]]:
    """Cores used by each process during the send cells at `CPU_CELL` connections."""
    cells = [r for r in run.rows if r.connections == CPU_CELL]
    names = list(cells[0].send_cores)
    rows: list[list[object]] = [
        [r.target, r.workers, f"{r.sends.rps:,.0f}"]
        + [f"{r.send_cores[name]:.2f}" for name in names]
        + [f"{sum(r.send_cores.values()):.2f}"]
        for r in cells
    ]
    return ["server", "workers", "sends/s", *names, "total"], rows


def _summary(n: int, run: Run) -> list[object]:
    """The targets at 32 connections: Parley/baseline sends and reads (same
    workers), two workers over one, p99 of sends with two workers."""

    def ratio(op: str, workers: int) -> float:
        parley, base = run.cell("Parley", workers, 32), run.cell("baseline", workers, 32)
        return float(getattr(parley, op).rps / getattr(base, op).rps)

    one, two = run.cell("Parley", 1, 32), run.cell("Parley", 2, 32)
    return [
        n, f"{ratio('sends', 1):.2f}", f"{ratio('sends', 2):.2f}", f"{ratio('reads', 1):.2f}",
        f"{ratio('reads', 2):.2f}", f"{two.sends.rps / one.sends.rps:.2f}",
        f"{two.sends.p99_ms:.0f}",
    ]  # fmt: skip


SUMMARY = [
    "run", "sends 1w (≥ 0.70)", "sends 2w (≥ 0.70)", "reads 1w (≥ 0.70)", "reads 2w (≥ 0.70)",
    "2w / 1w sends (≥ 1.6)", "send p99 2w, ms (< 100)",
]  # fmt: skip


def report(runs: list[Run], seconds: int) -> None:
    summary = markdown_table(SUMMARY, [_summary(n, run) for n, run in enumerate(runs, 1)])
    details = []
    for n, run in enumerate(runs, 1):
        churn = [[k, pg, mongo] for k, (pg, mongo) in run.churn.items()]
        details.append(f"""### Run {n}

DM sends:

{markdown_table(HEADER, _table(run, "sends"))}

History reads:

{markdown_table(HEADER, _table(run, "reads"))}

Connections opened after warm-up:

{markdown_table(["server", "PostgreSQL sessions", "MongoDB connections"], churn)}

CPU during the send cells at {CPU_CELL} connections, in cores (of 2):

{markdown_table(*_cpu_table(run))}
""")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"""`bench/http.py`, {len(runs)} runs, {when}.

- Machine: {machine()}; everything (databases, app, wrk with 2 threads) on it.
- Servers: {runs[0].servers}.
- Each run: for 1 and 2 workers, `parley serve` and then the raw baseline
  (`bench/baseline_app.py`), each on a fresh stack of its own, warmed up, then
  {seconds} s of `wrk` per cell. "/s" counts successful answers only; latencies in ms are
  wrk's over all answers; "ratio" is Parley over the baseline; "failed" counts
  non-2xx answers (503 `Overloaded` from load shedding among them) and socket
  timeouts (Parley / baseline).
  Sends carry no nonce and go to one DM (one account's sends); reads are
  `?limit=50` pages of another DM of {READ_DM_SIZE} messages. Connections opened after warm-up
  (through all three cells, less the bench's own) are PostgreSQL's
  `pg_stat_database.sessions` and MongoDB's `serverStatus.connections.totalCreated`;
  FerretDB does not count them, so for it they are sampled from `/proc/net/tcp`
  every 10 ms (`bench/sockets.py`: a lower bound).
  CPU is each process tree's user + system time over the cell's wall time
  (`/proc`; wrk's from its own rusage), so 2.00 means both cores busy.

The targets, at 32 connections:

{summary}

{chr(10).join(details)}"""
    print(body)
    write_section("## HTTP throughput", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per cell")
    parser.add_argument("--runs", type=int, default=3, help="runs, each on a fresh stack")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.runs))
