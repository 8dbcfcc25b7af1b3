"""DM send throughput and history-page latency through the service, beside the
raw drivers doing the same writes and reads, on the same servers in one run.

(a) Sends: `MessageService.post(...)` in-process (the app's state built
by `create_app` and its lifespan, background workers running), N sends by C
concurrent workers; against it, per message, a pymongo `insert_one` of the
same document into `direct_messages` and an asyncpg INSERT of the same row
into `direct_messages`, run concurrently as the service does. Rounds
alternate raw and service so that both see the same collection sizes.

(b) History pages (limit 50): `MessageService.list` against a raw pymongo
`find().sort().limit()` of the same page, interleaved.

    .venv/bin/python -m bench.messages
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import DESCENDING, AsyncMongoClient

from bench.common import (
    bench_settings,
    bench_stack,
    cpu_by_process,
    cpu_used,
    describe_servers,
    fmt,
    machine,
    make_dm_pair,
    markdown_table,
    mongo_answers,
    mongo_server_version,
    percentile,
    tuning,
    write_section,
)
from parley.app import create_app
from parley.cli.migrate import run_migrations
from parley.ids import new_id
from parley.messages.schemas import MessageCreate
from parley.messages.service import MessageService
from parley.security.throttle import ClientThrottle
from parley.storage.mongo.direct_messages import to_document
from parley.storage.records import MessageRecord, PageQuery, now_ms

SENDS_PER_ROUND = 1000
WORKERS = 16
PAGES = 40
PAGE_BUDGET_S = 30.0
SETTLE_TIMEOUT = 20.0
THROUGHPUT_TARGET = 0.70

PG_INSERT = """
INSERT INTO direct_messages
    (id, conversation_id, author_id, content, file_url, deleted, nonce, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


@dataclass
class Round:
    kind: str
    seconds: float
    latencies_ms: list[float]
    settle_s: float | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds


async def run_round(kind: str, send: Callable[[int], Awaitable[None]]) -> Round:
    counter = iter(range(SENDS_PER_ROUND))
    latencies: list[float] = []

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await send(i)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return Round(kind, time.perf_counter() - started, latencies)


def raw_sender(
    pool: Any, mongo: AsyncMongoClient[dict[str, Any]], dm: uuid.UUID, author: uuid.UUID
) -> Callable[[int], Awaitable[None]]:
    collection = mongo.parley.direct_messages

    async def send(i: int) -> None:
        message_id, now = new_id(), now_ms()
        record = MessageRecord(
            message_id, dm, author, f"raw {i}", None, False, str(message_id), now, now
        )
        await asyncio.gather(
            collection.insert_one(to_document(record)),
            pool.execute(
                PG_INSERT, record.id, dm, author, record.content, None, False,
                record.nonce, now, now,
            ),
        )  # fmt: skip

    return send


def service_sender(
    service: MessageService, dm: uuid.UUID, author: uuid.UUID, sources: Counter[str]
) -> Callable[[int], Awaitable[None]]:
    async def send(i: int) -> None:
        reply = await service.post(author, dm, MessageCreate(content=f"service {i}"))
        assert reply.status == 201, reply
        sources[reply.data_source or "?"] += 1

    return send


async def markers(pool: Any, mongo: AsyncMongoClient[dict[str, Any]]) -> tuple[int, int]:
    rows = await pool.fetchval("SELECT count(*) FROM mongo_replay_queue")
    docs = await mongo.parley.pg_replay_queue.count_documents({})
    return int(rows), int(docs)


async def settle(pool: Any, mongo: AsyncMongoClient[dict[str, Any]]) -> float | None:
    """Seconds until the service's background work (confirmer, replay) has
    cleared every marker; None if not within SETTLE_TIMEOUT."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_TIMEOUT:
        try:
            left = await asyncio.wait_for(markers(pool, mongo), 3.0)
        except Exception:  # the server is not answering: keep polling until the timeout
            left = (-1, -1)
        if left == (0, 0):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def pages(
    service: MessageService, mongo: AsyncMongoClient[dict[str, Any]], dm: uuid.UUID, reader: Any
) -> tuple[list[float], list[float], str]:
    collection = mongo.parley.direct_messages
    through_service: list[float] = []
    raw: list[float] = []
    sources: set[str] = set()
    started = time.monotonic()
    while len(raw) < PAGES and time.monotonic() - started < PAGE_BUDGET_S:
        t = time.perf_counter()
        reply = await service.list(reader, PageQuery(dm, 50))
        through_service.append((time.perf_counter() - t) * 1000)
        sources.add(reply.data_source or "?")
        t = time.perf_counter()
        cursor = collection.find({"conversationId": dm}).sort("_id", DESCENDING).limit(51)
        found = [doc async for doc in cursor]
        raw.append((time.perf_counter() - t) * 1000)
        assert len(found) == 51 and len(reply.body["items"]) == 50
    return through_service, raw, ",".join(sorted(sources))


async def main() -> None:
    import asyncpg

    with bench_stack("messages") as stack:
        settings = bench_settings(stack)
        await run_migrations(settings)
        ada, bob, dm = await make_dm_pair(settings)
        app = create_app(settings)
        pool_size = settings.pg_pool_size * 2  # the service's pool_size + max_overflow
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(), min_size=4, max_size=pool_size
        )
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_url.get_secret_value(), uuidRepresentation="standard", tz_aware=True,
            serverSelectionTimeoutMS=5000, socketTimeoutMS=10000,
        )  # fmt: skip
        try:
            async with app.router.lifespan_context(app):
                state = app.state.parley
                service = MessageService(
                    state.replication,
                    state.access,
                    state.events,
                    ClientThrottle(state.throttle, "127.0.0.1"),
                )
                await settle(pool, mongo)  # the DM's mirror documents are in MongoDB
                context = {
                    "machine": machine(),
                    "servers": describe_servers(stack, await mongo_server_version(mongo)),
                    "settings": ", ".join(f"`{k}={v}`" for k, v in tuning(settings).items()),
                }
                # Raw sends, then the page comparison on what they stored, then the
                # service's sends (the service's background work can leave FerretDB
                # unable to answer; see docs/BENCHMARKS.md).
                cpu_before = cpu_by_process(stack)
                raw = await run_round("raw", raw_sender(pool, mongo, dm, ada.id))
                raw.cpu_s = cpu_used(cpu_before, cpu_by_process(stack))
                print(f"raw: {raw.rate:.0f}/s", flush=True)
                collection_size = await mongo.parley.direct_messages.count_documents({})
                page_service, page_raw, sources = await pages(service, mongo, dm, bob.id)
                send_sources: Counter[str] = Counter()
                cpu_before = cpu_by_process(stack)
                done = await run_round("service", service_sender(service, dm, ada.id, send_sources))
                print(f"service: {done.rate:.0f}/s", flush=True)
                done.settle_s = await settle(pool, mongo)
                # The service's CPU includes clearing its markers afterwards.
                done.cpu_s = cpu_used(cpu_before, cpu_by_process(stack))
                rounds = [raw, done]
                alive = await mongo_answers(settings.mongo_url.get_secret_value())
                state = app.state.parley
                breaker_opened = state.replication.mongo_breaker.opened_count
                pg_breaker_opened = state.replication.postgres_breaker.opened_count
        finally:
            await mongo.close()
            await pool.close()

    context["alive"] = alive
    context["send_sources"] = ", ".join(f"`{k}` x{v}" for k, v in send_sources.most_common())
    body = report(rounds, page_service, page_raw, sources, collection_size, context,
                  breaker_opened, pg_breaker_opened)  # fmt: skip
    print(body)
    write_section("## Messages", body)


def report(
    rounds: list[Round],
    page_service: list[float],
    page_raw: list[float],
    sources: str,
    collection_size: int,
    context: dict[str, str],
    mongo_opened: int,
    pg_opened: int,
) -> str:
    def total(kind: str) -> tuple[float, list[float]]:
        mine, sends = of_kind(rounds, kind)
        return sends / sum(r.seconds for r in mine), [x for r in mine for x in r.latencies_ms]

    raw_rate, raw_lat = total("raw")
    svc_rate, svc_lat = total("service")
    share = svc_rate / raw_rate
    per_round = ", ".join(
        f"{r.kind} {r.rate:.0f}/s" + (f" (markers cleared after {fmt_s(r.settle_s)})"
                                      if r.kind == "service" else "")
        for r in rounds
    )  # fmt: skip
    sends_table = markdown_table(
        ["", "sends/s", "per-send p50 (ms)", "per-send p99 (ms)"],
        [
            ["raw drivers", f"{raw_rate:.0f}", fmt(percentile(raw_lat, 50)),
             fmt(percentile(raw_lat, 99))],
            ["service", f"{svc_rate:.0f}", fmt(percentile(svc_lat, 50)),
             fmt(percentile(svc_lat, 99))],
            ["service / raw", f"{share:.2f}",
             f"{percentile(svc_lat, 50) / percentile(raw_lat, 50):.2f}",
             f"{percentile(svc_lat, 99) / percentile(raw_lat, 99):.2f}"],
        ],
    )  # fmt: skip
    pages_table = markdown_table(
        ["", "page p50 (ms)", "page p99 (ms)"],
        [
            ["raw pymongo", fmt(percentile(page_raw, 50)), fmt(percentile(page_raw, 99))],
            [f"service (served by {sources})", fmt(percentile(page_service, 50)),
             fmt(percentile(page_service, 99))],
            ["service / raw",
             f"{percentile(page_service, 50) / percentile(page_raw, 50):.2f}",
             f"{percentile(page_service, 99) / percentile(page_raw, 99):.2f}"],
        ],
    )  # fmt: skip
    verdict = "met" if share >= THROUGHPUT_TARGET else "not met"
    cpu = cpu_table(rounds)
    return f"""
How to run: `.venv/bin/python -m bench.messages` (about two minutes; starts its own PostgreSQL
and FerretDB, removes them afterwards; rewrites this section).

- Machine: {context["machine"]}
- Servers: {context["servers"]}
- In-process: the app state from `create_app` and its lifespan (breaker probes, confirmer and
  replay worker running), the `MessageService` called directly, no HTTP
- Order: raw sends, then the page comparison on what they stored, then the service's sends
  (the service's sends can leave FerretDB unable to answer at all, see below, so they go last)
- Sends: {SENDS_PER_ROUND:,} DMs of each kind by {WORKERS} concurrent workers into one
  conversation; raw = per DM a pymongo `insert_one` of `to_document(record)` (the service's
  shape without its replay markers) and an asyncpg `INSERT` of the same row, concurrently;
  asyncpg pool of {settings_pool(context)} connections like the service's engine (pool +
  overflow)
- Pages: limit 50, newest first, {len(page_raw)} of each, interleaved, on the same conversation
  ({collection_size:,} documents in `direct_messages`)
- Settings (all defaults): {context["settings"]}

### Send throughput

{sends_table}

Per round: {per_round}. Stores that accepted the service's sends (`X-Data-Source`):
{context["send_sources"]}. MongoDB's breaker opened {mongo_opened} time(s) and PostgreSQL's
{pg_opened} time(s) in the app during the run. MongoDB role answering a ping on a fresh
connection after the service's sends: {context["alive"]}.

CPU per send, by process (ms; the service's includes clearing its markers after the round):

{cpu}

**Target — service at least {THROUGHPUT_TARGET:.0%} of the raw drivers' throughput: {verdict}**
({share:.0%}).

### History page latency

{pages_table}

### What the numbers mean

Throughput is DMs acknowledged per second over all rounds of a kind; per-send latency is one
call's wall time under that concurrency. The service does more per send than the raw pair of
inserts, by design: the room-access check (cached after the first), the PostgreSQL
replay-queue row written in the same statement as the DM, the `pg_replay_queue` entry, the author
view for rendering (cached for a second), the realtime event, and afterwards the confirmer
clearing both markers in batches (background work that competes for the same two CPUs and the
same FerretDB; the "markers cleared" time is how long it needed after the round, and its CPU
counts in the service's column). It also does one thing the raw pair does not: group commit.
Sends that arrive while a store is busy share its next write (see ARCHITECTURE.md), so each
store gets one call per batch where the raw baseline, like an application calling the drivers
directly, makes one per DM. That is where the service gets its throughput back: per send it
still uses more CPU than the raw pair (the CPU table), but fewer, larger database calls.
The page comparison is one service call (access check, MongoDB page, author rendering) against
the bare MongoDB query. The raw sends run first, into an empty collection, and the service's
second, into one that already holds the raw ones; with FerretDB's scans (see the findings) that
order favours raw.
"""


def of_kind(rounds: list[Round], kind: str) -> tuple[list[Round], int]:
    """The rounds of one kind and how many sends they made."""
    mine = [r for r in rounds if r.kind == kind]
    return mine, sum(len(r.latencies_ms) for r in mine)


def cpu_table(rounds: list[Round]) -> str:
    def per_send(kind: str) -> dict[str, float]:
        mine, sends = of_kind(rounds, kind)
        names = mine[0].cpu_s.keys()
        return {n: sum(r.cpu_s[n] for r in mine) * 1000 / sends for n in names}

    raw, service = per_send("raw"), per_send("service")
    rows = [[name, fmt(raw[name], 2), fmt(service[name], 2)] for name in raw]
    rows.append(["total", fmt(sum(raw.values()), 2), fmt(sum(service.values()), 2)])
    return markdown_table(["process", "raw drivers", "service"], rows)


def fmt_s(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else f"not within {SETTLE_TIMEOUT:.0f} s"


def settings_pool(context: dict[str, str]) -> str:
    found = [part for part in context["settings"].split(", ") if "PARLEY_PG_POOL_SIZE" in part]
    size = int(found[0].strip("`").split("=")[1]) * 2 if found else 20
    return str(size)


if __name__ == "__main__":
    asyncio.run(main())
