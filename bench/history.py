"""History cost follows the page: a page of a 50-message DM read from the
MongoDB role with 1,000 and then 100,000 other DMs in the collection, and the
ratio of the two medians; with `explain` of the query on this server.

The page is Parley's own MongoDB read (`storage.mongo.direct_messages.page`,
the query behind `GET /api/rooms/{dm}/messages?limit=50`), timed from the
client; the other DMs spread over 1,000 conversations.

    .venv/bin/python -m bench.history
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime

from pymongo import AsyncMongoClient

from bench.common import (
    bench_settings,
    bench_stack,
    describe_servers,
    machine,
    markdown_table,
    mongo_server_version,
    write_section,
)
from parley.ids import new_id
from parley.storage.mongo.direct_messages import page, to_document
from parley.storage.mongo.schema import DIRECT_MESSAGES, ensure_schema, key
from parley.storage.records import MessageRecord, PageQuery, now_ms

DM_SIZE = 50
CONVERSATIONS = 1000
SMALL, LARGE = 1_000, 100_000
PAGES = 60
# Time for the server's statistics to follow a bulk load (FerretDB's backend
# analyses a table within seconds); a steady state, not the load, is measured.
SETTLE_SECONDS = 8
TARGET = 1.5


def record(conversation: uuid.UUID) -> MessageRecord:
    message_id, now = new_id(), now_ms()
    return MessageRecord(
        message_id, conversation, uuid.uuid4(), "hello " * 8, None, False, str(message_id), now, now
    )


async def page_p50(db: object, dm: uuid.UUID) -> float:
    times = []
    for _ in range(PAGES):
        started = time.perf_counter()
        found = await page(db, PageQuery(dm, 50))  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
        assert len(found) == DM_SIZE
    return statistics.median(times)


async def fill(db: object, others: list[uuid.UUID], count: int) -> None:
    collection = db[DIRECT_MESSAGES]  # type: ignore[index]
    for start in range(0, count, 1000):
        docs = [to_document(record(random.choice(others))) for _ in range(min(1000, count - start))]
        await collection.insert_many(docs)


async def explain(db: object, dm: uuid.UUID) -> str:
    plan = await db.command(  # type: ignore[attr-defined]
        {
            "explain": {
                "find": DIRECT_MESSAGES,
                "filter": {"conversationId": key(dm)},
                "sort": {"_id": -1},
                "limit": 51,
            }
        }
    )
    if "filterPushdown" in plan:  # FerretDB: what it pushed down, and PostgreSQL's plan
        inner = plan["queryPlanner"]["Plan"]
        scans = [inner.get("Node Type"), *(p.get("Node Type") for p in inner.get("Plans", []))]
        index = next(
            (p.get("Index Name") for p in inner.get("Plans", []) if "Index Name" in p), None
        )
        return (
            f"filter pushed down: {plan['filterPushdown']}, sort: {plan.get('sortPushdown')}, "
            f"limit: {plan.get('limitPushdown')}; backend plan: {' / '.join(map(str, scans))}"
            f" on index {index}"
        )
    winning = plan["queryPlanner"]["winningPlan"]
    return f"mongod winning plan: {winning}"


async def run_once() -> tuple[float, float, str, str]:
    with bench_stack("history") as stack:
        settings = bench_settings(stack)
        mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            settings.mongo_url.get_secret_value(), uuidRepresentation="standard", tz_aware=True
        )
        try:
            db = mongo[settings.mongo_database]
            await ensure_schema(db)
            dm = new_id()
            await db[DIRECT_MESSAGES].insert_many([to_document(record(dm)) for _ in range(DM_SIZE)])
            others = [new_id() for _ in range(CONVERSATIONS)]
            await fill(db, others, SMALL)
            await asyncio.sleep(SETTLE_SECONDS)
            small = await page_p50(db, dm)
            await fill(db, others, LARGE - SMALL)
            await asyncio.sleep(SETTLE_SECONDS)
            large = await page_p50(db, dm)
            plan = await explain(db, dm)
            servers = describe_servers(stack, await mongo_server_version(mongo))
        finally:
            await mongo.close()
    return small, large, plan, servers


async def main(runs: int = 3) -> None:
    rows, plan, servers = [], "", ""
    for n in range(1, runs + 1):
        small, large, plan, servers = await run_once()
        rows.append([n, f"{small:.1f}", f"{large:.1f}", f"{large / small:.2f}"])
        print(rows[-1], flush=True)
    header = ["run", f"p50 with {SMALL:,} others (ms)", f"p50 with {LARGE:,} others (ms)", "ratio"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"""`bench/history.py`, {runs} runs, {when}.

- Machine: {machine()}.
- Servers: {servers}.
- A page (50 + 1) of a {DM_SIZE}-message DM through Parley's MongoDB read, the
  median of {PAGES} reads, with {SMALL:,} and then {LARGE:,} other DMs over
  {CONVERSATIONS:,} conversations in the collection; target ratio ≤ {TARGET}.

{markdown_table(header, rows)}

`explain` of the query at {LARGE:,} other DMs: {plan}.
"""
    print(body)
    write_section("## History cost", body)


if __name__ == "__main__":
    asyncio.run(main())
