"""DM latency before, during and after database faults, and time to converge.

One real `parley serve` process (uvicorn) on a fresh dev stack. An open-loop
load at a fixed rate alternates DM sends and history reads (limit 50) through
HTTP; each request is launched on schedule as its own task and its latency is
measured from its scheduled start, so queueing inside the app shows up.

Phases (PHASE_SECONDS each): before; MongoDB frozen (SIGSTOP); after thaw;
MongoDB killed (-9); after restart; PostgreSQL frozen; after thaw. For every
recovery, the time until every replay marker written before the recovery is
gone from both stores (PostgreSQL `mongo_replay_queue` rows and MongoDB
`pg_replay_queue` entries). Then the backlog test: MongoDB killed, BACKLOG DMs
sent through the API, MongoDB restarted, seconds until both stores hold the
same messages with no marker left.

    .venv/bin/python -m bench.failover
"""

from __future__ import annotations

import asyncio
import collections
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Person,
    bench_settings,
    bench_stack,
    describe_servers,
    fmt,
    machine,
    make_dm_pair,
    markdown_table,
    mongo_answers,
    mongo_server_version,
    percentile,
    raw_clients,
    tuning,
    write_section,
)
from parley.cli.migrate import run_migrations
from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess

RATE = 40.0  # requests per second, sends and reads alternating
PHASE_SECONDS = 8.0
WARMUP_SECONDS = 3.0
BACKLOG = 10_000
BACKLOG_CONCURRENCY = 32
CONVERGE_TIMEOUT = 60.0
P99_TARGET_MS = 250.0
CONVERGE_TARGET_S = 10.0
FAULT_PHASES = ("MongoDB frozen", "MongoDB killed", "PostgreSQL frozen")
LOG_DIR = Path(tempfile.gettempdir()) / "parley-bench-failover"


@dataclass
class Sample:
    phase: str
    kind: str
    offset_s: float  # scheduled start, seconds after the phase began
    latency_ms: float
    status: int
    source: str


@dataclass
class Load:
    """The open-loop request generator."""

    client: httpx.AsyncClient
    ada: Person
    bob: Person
    dm: uuid.UUID
    phase: str = "warmup"
    phase_started: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def enter(self, phase: str) -> None:
        self.phase, self.phase_started = phase, time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        started, i = time.monotonic(), 0
        while not stop.is_set():
            scheduled = started + i / RATE
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = "send" if i % 2 == 0 else "read"
            task = asyncio.create_task(self._one(kind, scheduled, i))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            i += 1
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def _one(self, kind: str, scheduled: float, i: int) -> None:
        phase, offset = self.phase, scheduled - self.phase_started
        url = f"/api/rooms/{self.dm}/messages"
        try:
            if kind == "send":
                response = await self.client.post(
                    url, json={"content": f"load {i}"}, headers=self.ada.headers
                )
            else:
                response = await self.client.get(
                    url, params={"limit": "50"}, headers=self.bob.headers
                )
            status, source = response.status_code, response.headers.get("X-Data-Source", "")
        except httpx.HTTPError as exc:
            status, source = 0, type(exc).__name__
        latency = (time.monotonic() - scheduled) * 1000
        if kind == "send" and status in (200, 201):
            self.acknowledged.add(response.json()["id"])
        self.samples.append(Sample(phase, kind, offset, latency, status, source))


# -- convergence ---------------------------------------------------------------------------


async def markers(pool: Any, mongo: Any, before: datetime | None = None) -> tuple[int, int]:
    """(PostgreSQL replay-queue rows, MongoDB pg_replay_queue entries), optionally
    only those written before `before`."""
    if before is None:
        rows = await pool.fetchval("SELECT count(*) FROM mongo_replay_queue")
        docs = await mongo.parley.pg_replay_queue.count_documents({})
    else:
        rows = await pool.fetchval(
            "SELECT count(*) FROM mongo_replay_queue WHERE created_at < $1", before
        )
        docs = await mongo.parley.pg_replay_queue.count_documents({"markedAt": {"$lt": before}})
    return int(rows), int(docs)


async def time_to_converge(pool: Any, mongo: Any, before: datetime | None) -> float | None:
    """Seconds until no marker (written before `before`, or at all) is left;
    None when that did not happen within CONVERGE_TIMEOUT."""
    started = time.monotonic()
    while time.monotonic() - started < CONVERGE_TIMEOUT:
        try:
            left = await asyncio.wait_for(markers(pool, mongo, before), 2.0)
        except Exception:  # a store still coming back: keep polling
            left = (-1, -1)
        if left == (0, 0):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def stored_ids(pool: Any, mongo: Any, dm: uuid.UUID) -> tuple[set[str], set[str]]:
    rows = await pool.fetch("SELECT id FROM direct_messages WHERE conversation_id = $1", dm)
    cursor = mongo.parley.direct_messages.find({"conversationId": str(dm)}, {"_id": 1})
    return {str(r["id"]) for r in rows}, {str(d["_id"]) async for d in cursor}


# -- the fault sequence ----------------------------------------------------------------------


@dataclass
class Recovery:
    name: str
    seconds: float | None


async def _in_thread(action: Callable[[], None]) -> None:
    await asyncio.to_thread(action)


async def fault_sequence(load: Load, stack: DevStack, pool: Any, mongo: Any) -> list[Recovery]:
    recoveries: list[Recovery] = []
    mongo_proc, pg_proc = stack.mongo.process, stack.postgres.process

    async def fault(name: str, action: Callable[[], None]) -> None:
        await _in_thread(action)
        load.enter(name)
        await asyncio.sleep(PHASE_SECONDS)

    async def recover(name: str, action: Callable[[], None]) -> None:
        await _in_thread(action)
        cutoff = datetime.now(UTC)
        load.enter(name)
        converge = asyncio.create_task(time_to_converge(pool, mongo, cutoff))
        await asyncio.sleep(PHASE_SECONDS)
        recoveries.append(Recovery(name, await converge))

    load.enter("before")
    await asyncio.sleep(PHASE_SECONDS)
    await fault("MongoDB frozen", mongo_proc.freeze)
    await recover("after MongoDB thaw", mongo_proc.thaw)
    await fault("MongoDB killed", mongo_proc.kill)
    await recover("after MongoDB restart", mongo_proc.start)
    await fault("PostgreSQL frozen", pg_proc.freeze)
    await recover("after PostgreSQL thaw", pg_proc.thaw)
    return recoveries


# -- the backlog test ------------------------------------------------------------------------


@dataclass
class Backlog:
    sent: int
    errors: int
    send_seconds: float
    restart_seconds: float
    converge_seconds: float | None
    postgres_ids: int
    mongo_ids: int
    same_ids: bool
    all_acknowledged: bool


async def backlog_test(
    client: httpx.AsyncClient, stack: DevStack, pool: Any, mongo: Any, ada: Person, dm: uuid.UUID
) -> Backlog:
    await _in_thread(stack.mongo.process.kill)
    acknowledged: set[str] = set()
    errors = 0
    counter = iter(range(BACKLOG))

    async def sender() -> None:
        nonlocal errors
        for i in counter:
            try:
                response = await client.post(
                    f"/api/rooms/{dm}/messages", json={"content": f"backlog {i}"},
                    headers=ada.headers,
                )  # fmt: skip
            except httpx.HTTPError:
                errors += 1
                continue
            if response.status_code == 201:
                acknowledged.add(response.json()["id"])
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(BACKLOG_CONCURRENCY)))
    send_seconds = time.monotonic() - started
    started = time.monotonic()
    await _in_thread(stack.mongo.process.start)
    restart_seconds = time.monotonic() - started
    converge = await time_to_converge(pool, mongo, None)
    postgres_ids, mongo_ids = await stored_ids(pool, mongo, dm)
    return Backlog(
        sent=len(acknowledged),
        errors=errors,
        send_seconds=send_seconds,
        restart_seconds=restart_seconds,
        converge_seconds=converge,
        postgres_ids=len(postgres_ids),
        mongo_ids=len(mongo_ids),
        same_ids=postgres_ids == mongo_ids,
        all_acknowledged=acknowledged <= postgres_ids and acknowledged <= mongo_ids,
    )


# -- reporting -------------------------------------------------------------------------------

PHASES = [
    "before",
    "MongoDB frozen",
    "after MongoDB thaw",
    "MongoDB killed",
    "after MongoDB restart",
    "PostgreSQL frozen",
    "after PostgreSQL thaw",
]


def phase_rows(samples: list[Sample]) -> list[list[object]]:
    rows: list[list[object]] = []
    for phase in PHASES:
        mine = [s for s in samples if s.phase == phase]
        cells: list[object] = [phase]
        for kind in ("send", "read"):
            lat = [s.latency_ms for s in mine if s.kind == kind]
            cells += [len(lat), fmt(percentile(lat, 50)), fmt(percentile(lat, 99))]
        bad = [s for s in mine if s.status not in (200, 201)]
        sources = collections.Counter(s.source for s in mine if s.kind == "read")
        cells += [len(bad), ", ".join(f"{k or '?'} x{v}" for k, v in sources.most_common())]
        rows.append(cells)
    return rows


def slowest(samples: list[Sample], phase: str, n: int = 5) -> str:
    mine = sorted((s for s in samples if s.phase == phase), key=lambda s: -s.latency_ms)[:n]
    return ", ".join(f"{s.kind}@{s.offset_s:.2f}s={s.latency_ms:.0f}ms" for s in mine)


def slow_after(samples: list[Sample], phase: str, threshold_ms: float) -> str:
    """How many requests exceeded `threshold_ms`, and when the last one started."""
    slow = [s for s in samples if s.phase == phase and s.latency_ms > threshold_ms]
    if not slow:
        return "none"
    return f"{len(slow)}, the last scheduled {max(s.offset_s for s in slow):.2f}s into the phase"


def app_log_summary(log: Path) -> list[str]:
    counts: collections.Counter[str] = collections.Counter()
    timeline: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            counts["non-JSON line"] += 1
            continue
        event = str(entry.get("event", ""))
        if event == "request":
            continue
        key = event if len(event) < 60 else event[:60] + "…"
        counts[f"{entry.get('level', '?')}: {key}"] += 1
        if event.startswith("breaker_"):
            detail = {k: v for k, v in entry.items() if k not in ("event", "level", "timestamp")}
            timeline.append(f"{entry.get('timestamp', '?')} {event} {detail}")
    lines = [f"{n:6d}  {k}" for k, n in counts.most_common(25)]
    return lines + ["breaker timeline:"] + [f"  {t}" for t in timeline[:40]]


def verdicts(samples: list[Sample], backlog: Backlog) -> list[str]:
    out: list[str] = []
    for phase in FAULT_PHASES:
        p99s = {
            kind: percentile(
                [s.latency_ms for s in samples if s.phase == phase and s.kind == kind], 99
            )
            for kind in ("send", "read")
        }
        met = all(v < P99_TARGET_MS for v in p99s.values())
        out.append(
            f"- DM p99 under {P99_TARGET_MS:.0f} ms while **{phase}**: "
            f"**{'met' if met else 'not met'}** (send p99 {fmt(p99s['send'])} ms, "
            f"read p99 {fmt(p99s['read'])} ms)"
        )
    seconds = backlog.converge_seconds
    met = seconds is not None and seconds <= CONVERGE_TARGET_S and backlog.same_ids
    shown = f"{seconds:.1f} s" if seconds is not None else f"not within {CONVERGE_TIMEOUT:.0f} s"
    out.append(
        f"- A backlog of {backlog.sent:,} DMs converges within {CONVERGE_TARGET_S:.0f} s: "
        f"**{'met' if met else 'not met'}** ({shown} after MongoDB answered again)"
    )
    return out


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def report(
    samples: list[Sample],
    recoveries: list[Recovery],
    backlog: Backlog,
    final: tuple[float | None, int, int, bool, bool],
    context: dict[str, str],
) -> str:
    header = ["phase", "sends", "send p50", "send p99", "reads", "read p50", "read p99",
              "errors", "reads served by"]  # fmt: skip
    table = markdown_table(header, phase_rows(samples))
    conv = markdown_table(
        ["recovery", "seconds until every earlier marker is gone from both stores"],
        [[r.name, fmt(r.seconds, 2) if r.seconds is not None else "not converged"]
         for r in recoveries],
    )  # fmt: skip
    final_s, pg_n, mongo_n, same, acked = final
    b = backlog
    return f"""
How to run: `.venv/bin/python -m bench.failover` (about four minutes; starts its own
PostgreSQL, FerretDB and one `parley serve`, removes them afterwards; rewrites this section).

- Machine: {context["machine"]}
- Servers: {context["servers"]}
- App: one `parley serve` process (uvicorn, one worker) on loopback; httpx client on the
  same machine
- Load: open loop, {RATE:.0f} requests/s alternating DM send (no nonce) and DM history read
  (`limit=50`), each launched on schedule as its own task; latency counted from the scheduled
  start; {PHASE_SECONDS:.0f} s per phase after {WARMUP_SECONDS:.0f} s of warm-up
- Settings (all defaults): {context["settings"]}

### Latency per phase (ms)

{table}

### Time to converge after each recovery

{conv}

After the load stopped, all markers were gone in {fmt(_or_nan(final_s), 2)} s;
the DM then held {pg_n:,} messages in PostgreSQL and {mongo_n:,} in MongoDB, same ids: {same},
every acknowledged send in both: {acked}.

### Backlog of {BACKLOG:,} DMs

MongoDB killed, {BACKLOG:,} DMs sent through the API with {BACKLOG_CONCURRENCY} concurrent
clients ({b.sent:,} acknowledged, {b.errors} errors, {b.send_seconds:.1f} s,
{b.sent / b.send_seconds:.0f} sends/s on PostgreSQL alone), MongoDB restarted (ready after
{b.restart_seconds:.1f} s), then **{fmt(_or_nan(b.converge_seconds), 1)} s** until no
replay marker was left in either store. PostgreSQL then held {b.postgres_ids:,} and MongoDB
{b.mongo_ids:,} DMs of the conversation; same ids: {b.same_ids}; every acknowledged send in
both: {b.all_acknowledged}. MongoDB role answering a ping on a fresh connection at the end:
{context["alive"]}.

### Verdict

{chr(10).join(verdicts(samples, backlog))}

### What the numbers mean

p50/p99 are per phase, over the requests *scheduled* in that phase, in milliseconds from
the scheduled start to the full response (so time spent queued in the app counts). A fault
phase starts the moment the signal is sent; the breaker opens only once enough of its
window failed or ran slow (`PARLEY_BREAKER_*`), so the first requests of a fault
phase pay up to one `PARLEY_DB_DEADLINE` — those are what the p99 of a fault phase shows.
"Reads served by" is the `X-Data-Source` header. Convergence after a recovery counts from the
moment the server answers again (thaw sent, or restart ready) until no replay-queue row and no
`pg_replay_queue` entry older than that moment remains, so it measures draining what the outage
left behind even while new traffic keeps adding fresh markers.
"""


# -- main ----------------------------------------------------------------------------------


async def main() -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with bench_stack("failover") as stack:
        settings = bench_settings(stack)
        await run_migrations(settings)
        ada, bob, dm = await make_dm_pair(settings)
        app = AppProcess(settings, LOG_DIR)
        app.start()
        try:
            async with (
                raw_clients(settings) as (pool, mongo),
                httpx.AsyncClient(
                    base_url=app.url,
                    timeout=30,
                    limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
                ) as client,
            ):
                context = {
                    "machine": machine(),
                    "servers": describe_servers(stack, await mongo_server_version(mongo)),
                    "settings": ", ".join(f"`{k}={v}`" for k, v in tuning(settings).items()),
                }
                await time_to_converge(pool, mongo, None)  # the DM mirror is in MongoDB
                load = Load(client, ada, bob, dm)
                stop = asyncio.Event()
                runner = asyncio.create_task(load.run(stop))
                await asyncio.sleep(WARMUP_SECONDS)
                try:
                    recoveries = await fault_sequence(load, stack, pool, mongo)
                finally:
                    load.enter("done")
                    stop.set()
                    await runner
                final_s = await time_to_converge(pool, mongo, None)
                pg_ids, mongo_ids = await stored_ids(pool, mongo, dm)
                acked = load.acknowledged <= pg_ids and load.acknowledged <= mongo_ids
                final = (final_s, len(pg_ids), len(mongo_ids), pg_ids == mongo_ids, acked)
                backlog = await backlog_test(client, stack, pool, mongo, ada, dm)
                context["alive"] = await mongo_answers(settings.mongo_url.get_secret_value())
        finally:
            app.stop()
            log_copy = LOG_DIR / "app.log"
            shutil.copy(app._log, log_copy)

    body = report(load.samples, recoveries, backlog, final, context)
    print(body)
    print("Slowest requests per fault phase (scheduled offset into the phase = latency):")
    for phase in PHASES[1:]:
        print(f"  {phase}: {slowest(load.samples, phase)}")
        print(f"    over {P99_TARGET_MS:.0f} ms: {slow_after(load.samples, phase, P99_TARGET_MS)}")
    print(f"\nApp log ({log_copy}), events other than requests:")
    print("\n".join(app_log_summary(log_copy)))
    write_section("## Failover", body)


if __name__ == "__main__":
    asyncio.run(main())
