"""DM latency before, during and after database faults on a loaded database, at
two rates, and the time to converge; plus the 10,000-DM backlog and the wedge.

One real `parley serve` process (uvicorn, one worker) on a fresh dev stack
holding `conversations` DM conversations and `messages` DMs in both stores
(`bench.dataset`). The load is an open loop alternating DM sends and history
reads (limit 50) spread over all the ordinary conversations (see
`bench.dataset` for why not one): each request is
launched on schedule as its own task and its latency is measured from its
scheduled start, so queueing anywhere (the app, the client) counts. The
generator records how late it launched each request; when it falls behind,
the output says so.

1. Saturation: a stepped open-loop ramp of the same mix (x1.25 per step from
   40/s); the saturation rate is the first rate whose p99 exceeds 250 ms or
   that has an error in two of three steps, each as long as a fault phase.
   The fault phases then run at 40/s and at 70 % of it.
2. At each rate: before; MongoDB frozen (SIGSTOP); after thaw; MongoDB killed
   (-9); after restart; PostgreSQL frozen; after thaw; PostgreSQL killed;
   after restart. After each recovery, the seconds until every replay marker
   written before it is gone from both stores (PostgreSQL `mongo_replay_queue`,
   MongoDB `pg_replay_queue`), under the continuing load.
3. Backlog: MongoDB killed, 10,000 DMs sent through the API, MongoDB restarted;
   seconds until no marker is left and both stores hold the same messages.
4. Wedge: 16 concurrent history reads for 10 seconds on the conversation
   holding about 5,000 DMs; then seconds until both breakers are closed and
   `/api/health` says `healthy`.

Each stage (each rate, the backlog, the wedge) starts on a healthy app: one
still unhealthy after the wait, with both servers running, is restarted and
the report says so (a wedge is then a finding, not a ruined run). Waits end
after 60 s, so a full run takes about 7 minutes when the targets hold and up
to about 20 when recoveries time out (`Sizes`; `--quick` about 6 minutes).

One invocation is one run; `--run N` records it as "Run N" in the "Failover"
section of docs/BENCHMARKS.md (replacing an earlier Run N, keeping the
others). `--quick` uses small data and short phases, prints, writes nothing.

    .venv/bin/python -m bench.failover [--run N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench import dataset
from bench.common import (
    bench_settings,
    bench_stack,
    describe_servers,
    fmt,
    machine,
    mongo_answers,
    mongo_server_version,
    raw_clients,
    read_section,
    tree_cpu_seconds,
    tuning,
    write_section,
)
from bench.failover_report import (
    BACKLOG_CONCURRENCY,
    BASE_RATE,
    FAULTS,
    HEADING,
    PHASES,
    RAMP_FACTOR,
    RAMP_MAX,
    SATURATION_SHARE,
    WEDGE_READERS,
    Backlog,
    RateRun,
    Step,
    Wedge,
    app_log_summary,
    merge_runs,
    or_nan,
    report_run,
)
from bench.openload import LATE_MS, Load, Sample, error_code, run_load, stats
from parley.cli.migrate import run_migrations
from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess

LOG_DIR = Path(tempfile.gettempdir()) / "parley-bench-failover"


@dataclass(frozen=True)
class Sizes:
    conversations: int
    messages: int
    large_dm: int
    phase_s: float
    backlog: int
    wedge_s: float
    wait_s: float  # longest wait for convergence or for health after the wedge


FULL = Sizes(1_000, 100_000, 5_000, 8.0, 10_000, 10.0, 60.0)
QUICK = Sizes(100, 5_000, 5_000, 3.0, 1_000, 4.0, 15.0)


async def warm_up(
    client: httpx.AsyncClient, ds: dataset.Dataset, sizes: Sizes, breakers: BreakerLog
) -> None:
    """A few seconds of light load on a fresh app (connections, caches, the
    group-commit path), then wait until health is `healthy`: a cold start is not
    what the ramp measures."""
    await run_load(Load(client, ds.measured, 10.0), lambda: asyncio.sleep(3.0))
    await until_healthy(client, breakers, sizes.wait_s)


# -- 1. saturation ----------------------------------------------------------------------


async def saturation(
    client: httpx.AsyncClient, ds: dataset.Dataset, sizes: Sizes, app_pid: int | None
) -> list[Step]:
    """Steps up the rate until a rate saturates: p99 over the target or a failed
    request. Each rate is decided by two steps of three (on a shared machine one
    blip is not saturation, and one lucky step is not capacity), each as long as
    a fault phase; the last step is at the first rate that did not hold (or the
    last tried)."""
    steps: list[Step] = []
    rate = BASE_RATE
    while rate <= RAMP_MAX:
        held = saturated = 0
        while held < 2 and saturated < 2:
            step = await ramp_step(client, ds, sizes, app_pid, rate)
            steps.append(step)
            held, saturated = held + step.stats.held, saturated + (not step.stats.held)
        if saturated == 2:
            break
        rate = round(rate * RAMP_FACTOR)
    return steps


async def ramp_step(
    client: httpx.AsyncClient, ds: dataset.Dataset, sizes: Sizes, app_pid: int | None, rate: float
) -> Step:
    load = Load(client, ds.measured, rate, phase="step")
    # This process alone (its children are the servers and the app).
    cpu = (time.process_time(), tree_cpu_seconds(app_pid), time.monotonic())
    await run_load(load, lambda: asyncio.sleep(sizes.phase_s))
    wall = time.monotonic() - cpu[2]
    client_cpu = (time.process_time() - cpu[0]) / wall
    app_cpu = (tree_cpu_seconds(app_pid) - cpu[1]) / wall
    step = Step(rate, stats(s for s in load.samples if s.phase == "step"), client_cpu, app_cpu)
    print(f"  ramp {rate:.0f}/s: p99 {step.stats.p99:.0f} ms, failed {step.stats.failed_cell}, "
          f"launch p99 {step.stats.late_p99:.1f} ms late, client CPU {client_cpu:.0%}, "
          f"app CPU {app_cpu:.0%}", flush=True)  # fmt: skip
    await asyncio.sleep(1.0)  # let the step's work drain
    return step


# -- convergence -----------------------------------------------------------------------------


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


async def time_to_converge(
    pool: Any, mongo: Any, before: datetime | None, timeout: float
) -> float | None:
    """Seconds until no marker (written before `before`, or at all) is left;
    None when that did not happen within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            left = await asyncio.wait_for(markers(pool, mongo, before), 2.0)
        except Exception:  # a store still coming back: keep polling
            left = (-1, -1)
        if left == (0, 0):
            return time.monotonic() - started
        # Not faster: on FerretDB each count reads the whole queue collection.
        await asyncio.sleep(0.25)
    with contextlib.suppress(Exception):
        print(f"    not converged; left: {await leftover(pool, mongo, before)}", flush=True)
    return None


async def leftover(pool: Any, mongo: Any, before: datetime | None) -> str:
    """What the markers still waiting are (for the printed log of a run)."""
    cutoff = before or datetime.now(UTC)
    rows = await pool.fetch(
        "SELECT kind, missed, attempts, now() - created_at AS age, not_before > now() AS later"
        " FROM mongo_replay_queue WHERE created_at < $1 LIMIT 5", cutoff
    )  # fmt: skip
    docs = await mongo.parley.pg_replay_queue.find(
        {"markedAt": {"$lt": cutoff}}, {"_id": 0, "conversationId": 0, "digest": 0}
    ).to_list(5)
    return f"PostgreSQL queue {[dict(r) for r in rows]}; MongoDB queue {docs}"


async def stored_ids(pool: Any, mongo: Any, dms: list[uuid.UUID]) -> tuple[set[str], set[str]]:
    """The message ids of `dms` in (PostgreSQL, MongoDB)."""
    rows = await pool.fetch(
        "SELECT id FROM direct_messages WHERE conversation_id = ANY($1::uuid[])", dms
    )
    mongo_ids: set[str] = set()
    for dm in dms:  # one equality each: FerretDB scans the collection for an $in
        cursor = mongo.parley.direct_messages.find({"conversationId": str(dm)}, {"_id": 1})
        mongo_ids |= {str(d["_id"]) async for d in cursor}
    return {str(r["id"]) for r in rows}, mongo_ids


# -- 2. the fault phases at one rate ---------------------------------------------------------


async def fault_phases(
    client: httpx.AsyncClient, stack: DevStack, pool: Any, mongo: Any,
    ds: dataset.Dataset, sizes: Sizes, label: str, rate: float,
) -> RateRun:  # fmt: skip
    load = Load(client, ds.measured, rate)
    run = RateRun(label, rate)
    servers = {"mongo": stack.mongo.process, "postgres": stack.postgres.process}

    async def sequence() -> None:
        await asyncio.sleep(2.0)  # warm-up, not measured
        load.phase = "before"
        await asyncio.sleep(sizes.phase_s)
        for fault, recovery, store, hurt, heal in FAULTS:
            await asyncio.to_thread(getattr(servers[store], hurt))
            load.phase = fault
            await asyncio.sleep(sizes.phase_s)
            await asyncio.to_thread(getattr(servers[store], heal))
            cutoff = datetime.now(UTC)
            load.phase = recovery
            converge = asyncio.create_task(time_to_converge(pool, mongo, cutoff, sizes.wait_s))
            await asyncio.sleep(sizes.phase_s)
            load.phase = "converging"  # not measured: the next fault waits for this one's end
            run.converged[recovery] = await converge
            print(f"  {label}: {fault} and {recovery} done", flush=True)

    await run_load(load, sequence)
    for phase in PHASES:
        run.phases[phase] = stats(s for s in load.samples if s.phase == phase)
    left = await time_to_converge(pool, mongo, None, sizes.wait_s)
    pg_ids, mongo_ids = await stored_ids(pool, mongo, [dm for _, _, dm in ds.measured])
    acked = load.acknowledged <= pg_ids and load.acknowledged <= mongo_ids
    run.final = (
        f"After the load stopped, all markers were gone in {fmt(or_nan(left), 2)} s; the "
        f"{len(ds.measured)} DMs under load then held {len(pg_ids):,} messages in PostgreSQL and "
        f"{len(mongo_ids):,} in MongoDB, same ids: "
        f"{pg_ids == mongo_ids}; all {len(load.acknowledged):,} acknowledged sends in both: "
        f"{acked}."
    )
    return run


# -- 3. the backlog --------------------------------------------------------------------------


async def backlog_test(
    client: httpx.AsyncClient, stack: DevStack, pool: Any, mongo: Any, ds: dataset.Dataset,
    sizes: Sizes,
) -> Backlog:  # fmt: skip
    await asyncio.to_thread(stack.mongo.process.kill)
    acknowledged: set[str] = set()
    errors = 0
    counter = iter(range(sizes.backlog))

    async def send() -> None:
        nonlocal errors
        for i in counter:
            sender, _, dm = ds.measured[i % len(ds.measured)]
            try:
                response = await client.post(
                    f"/api/rooms/{dm}/messages", json={"content": f"backlog {i}"},
                    headers=sender.headers,
                )  # fmt: skip
            except httpx.HTTPError:
                errors += 1
                continue
            if response.status_code == 201:
                acknowledged.add(response.json()["id"])
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(send() for _ in range(BACKLOG_CONCURRENCY)))
    send_seconds = time.monotonic() - started
    started = time.monotonic()
    await asyncio.to_thread(stack.mongo.process.start)
    restart_seconds = time.monotonic() - started
    converge = await time_to_converge(pool, mongo, None, sizes.wait_s)
    postgres_ids, mongo_ids = await stored_ids(pool, mongo, [dm for _, _, dm in ds.measured])
    return Backlog(
        size=sizes.backlog,
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


# -- 4. the wedge ----------------------------------------------------------------------------


class BreakerLog:
    """The breakers' state as the app's log tells it (`breaker_opened`,
    `breaker_closed`; half-open is not logged, so it reads as open), read
    incrementally."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.opened = path, 0, 0
        self.state = {"mongodb": "closed", "postgresql": "closed"}

    def restarted(self) -> None:
        """The app was restarted: its breakers start closed, earlier lines are old."""
        self.update()
        self.state = dict.fromkeys(self.state, "closed")

    def update(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            if '"breaker_' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            event, store = str(entry.get("event")), str(entry.get("store"))
            if event in ("breaker_opened", "breaker_closed") and store in self.state:
                self.state[store] = event.removeprefix("breaker_")
                self.opened += event == "breaker_opened"


async def until_healthy(
    client: httpx.AsyncClient, breakers: BreakerLog, timeout: float
) -> tuple[float | None, str]:
    """Seconds until both breakers are closed (log and `/api/metrics`) and
    `/api/health` says `healthy`, None if not within `timeout`; and the last
    health status seen."""
    started, last = time.monotonic(), "-"
    while time.monotonic() - started < timeout:
        breakers.update()
        try:
            health = await client.get("/api/health", timeout=2)
            metrics = (await client.get("/api/metrics", timeout=2)).text
            last = health.json().get("status", "?")
        except (httpx.HTTPError, ValueError) as exc:
            last, metrics = type(exc).__name__, ""
        gauges_closed = all(
            re.search(rf"^parley_breaker_open_{store} 0(\.0)?$", metrics, re.M)
            for store in ("mongodb", "postgresql")
        )
        if last == "healthy" and gauges_closed and set(breakers.state.values()) == {"closed"}:
            return time.monotonic() - started, last
        await asyncio.sleep(0.2)
    return None, last


async def ensure_healthy(
    app: AppProcess, client: httpx.AsyncClient, breakers: BreakerLog, timeout: float, before: str
) -> str:
    """Wait until the app is healthy with both breakers closed; if it is not
    within `timeout`, restart it, so `before` starts clean. Returns what
    happened, for the report ("" when it was healthy)."""
    seconds, last = await until_healthy(client, breakers, timeout)
    if seconds is not None:
        return ""
    breakers.update()
    print(f"  app not healthy ({last}, breakers {breakers.state}) before {before}: restarting it")
    note = (
        f"Before {before}, the app was not healthy within {timeout:.0f} s (health `{last}`, "
        f"breakers by the log: {breakers.state}) while both servers ran; it was restarted."
    )
    await asyncio.to_thread(app.stop)
    await asyncio.to_thread(app.start)
    breakers.restarted()
    seconds, last = await until_healthy(client, breakers, timeout)
    return note + ("" if seconds is not None else f" After the restart: health `{last}`.")


async def wedge_test(
    client: httpx.AsyncClient, ds: dataset.Dataset, sizes: Sizes, breakers: BreakerLog
) -> Wedge:
    one, _, dm = ds.large
    samples: list[Sample] = []
    breakers.update()
    opened_before = breakers.opened
    end = time.monotonic() + sizes.wedge_s

    async def reader() -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                response = await client.get(
                    f"/api/rooms/{dm}/messages", params={"limit": "50"}, headers=one.headers
                )
                status, source = response.status_code, response.headers.get("X-Data-Source", "")
                if status != 200:
                    source = error_code(response)
            except httpx.HTTPError as exc:
                status, source = 0, type(exc).__name__
            latency = (time.monotonic() - started) * 1000
            samples.append(Sample("wedge", "read", 0.0, latency, status, source))

    await asyncio.gather(*(reader() for _ in range(WEDGE_READERS)))
    breakers.update()
    opened = breakers.opened - opened_before
    healthy_after, last = await until_healthy(client, breakers, sizes.wait_s)
    return Wedge(ds.large_size, stats(samples), opened, healthy_after, last)


# -- main ----------------------------------------------------------------------------------


def _commit() -> str:
    import subprocess

    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent, check=False)  # fmt: skip
    return out.stdout.strip() or "?"


async def main(run_number: int, quick: bool) -> None:
    sizes = QUICK if quick else FULL
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    context: dict[str, str] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "ramp_step": f"{sizes.phase_s:.0f}",
        "wedge_s": f"{sizes.wedge_s:.0f}",
    }
    with bench_stack("failover") as stack:
        settings = bench_settings(stack)
        await run_migrations(settings)
        async with raw_clients(settings) as (pool, mongo):
            print(f"loading {sizes.messages:,} DMs + {sizes.large_dm:,} ...", flush=True)
            loaded = time.monotonic()
            ds = await dataset.load(settings, pool, mongo, sizes.conversations, sizes.messages,
                                    sizes.large_dm)  # fmt: skip
            counted = await dataset.counts(settings, pool, mongo)
            print(f"  loaded in {time.monotonic() - loaded:.0f} s: {counted}", flush=True)
            if any(pg != mg for pg, mg in counted.values()):
                raise SystemExit(f"the stores disagree after loading: {counted}")
            context["data"] = (
                f"{ds.conversations:,} DM conversations, {ds.messages:,} DMs "
                f"(one conversation of {ds.large_size:,}) in both stores, loaded in "
                f"{time.monotonic() - loaded:.0f} s; counts (PostgreSQL, MongoDB): "
                + ", ".join(f"{k} {a:,}/{b:,}" for k, (a, b) in counted.items())
            )
            await asyncio.sleep(8)  # FerretDB's backend analyses the loaded table
        app = AppProcess(settings, LOG_DIR)
        app.start()
        try:
            async with (
                raw_clients(settings, min_size=0) as (pool, mongo),
                httpx.AsyncClient(
                    base_url=app.url,
                    timeout=30,
                    limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
                ) as client,
            ):
                context["machine"] = machine()
                context["servers"] = describe_servers(stack, await mongo_server_version(mongo))
                context["settings"] = ", ".join(f"`{k}={v}`" for k, v in tuning(settings).items())
                breakers = BreakerLog(app._log)
                await warm_up(client, ds, sizes, breakers)
                print("saturation ramp", flush=True)
                steps = await saturation(client, ds, sizes, app._proc.pid if app._proc else None)
                top = steps[-1]
                context["saturation_note"] = (
                    "" if not top.stats.held
                    else f" (not reached: every step up to {RAMP_MAX:.0f}/s held; a lower bound)"
                )  # fmt: skip
                if top.rate == BASE_RATE and not top.stats.held:
                    context["saturation_note"] += (
                        f" (the first step already failed: the second rate is below "
                        f"{BASE_RATE:.0f}/s)"
                    )
                if top.stats.late_p99 > LATE_MS:
                    context["saturation_note"] += (
                        f" (the generator launched that step's requests up to "
                        f"{top.stats.late_p99:.0f} ms late: it may be the client's limit)"
                    )
                await time_to_converge(pool, mongo, None, sizes.wait_s)
                notes = []
                rates = [("40 requests/s", BASE_RATE),
                         (f"70 % of saturation ({top.rate * SATURATION_SHARE:.0f} requests/s)",
                          round(top.rate * SATURATION_SHARE))]  # fmt: skip
                runs = []
                for label, rate in rates:
                    print(f"fault phases at {label}", flush=True)
                    notes.append(await ensure_healthy(app, client, breakers, sizes.wait_s, label))
                    runs.append(await fault_phases(client, stack, pool, mongo, ds, sizes, label,
                                                   rate))  # fmt: skip
                print("backlog", flush=True)
                notes.append(await ensure_healthy(app, client, breakers, sizes.wait_s, "backlog"))
                backlog = await backlog_test(client, stack, pool, mongo, ds, sizes)
                context["alive"] = await mongo_answers(settings.mongo_url.get_secret_value())
                print("wedge", flush=True)
                notes.append(await ensure_healthy(app, client, breakers, sizes.wait_s, "the wedge"))
                context["notes"] = "\n".join(f"- {note}" for note in notes if note)
                wedge = await wedge_test(client, ds, sizes, breakers)
        finally:
            app.stop()
            log_copy = LOG_DIR / "app.log"
            shutil.copy(app._log, log_copy)

    text = report_run(run_number, context, steps, runs, backlog, wedge)
    print(text)
    print(f"App log ({log_copy}), events other than requests:")
    print("\n".join(app_log_summary(log_copy)))
    print(f"\nwall time: {time.monotonic() - began:.0f} s")
    if quick:
        print("--quick: docs/BENCHMARKS.md left as it was")
        return
    body, n = merge_runs(read_section(HEADING), run_number, text)
    write_section(HEADING, body)
    print(f"recorded as Run {n} in docs/BENCHMARKS.md")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, default=0, help="record as Run N (default: next)")
    parser.add_argument("--quick", action="store_true", help="small data, short phases, no docs")
    args = parser.parse_args()
    uvloop.run(main(args.run, args.quick))
