"""FerretDB's storage handler, measured: SQLite vs PostgreSQL.

Two FerretDB launchers side by side (the repo's `mongo-compat`), one per
handler, each loaded with the same DMS DMs spread over CONVERSATIONS
conversations with Parley's indexes; then the DM history query Parley runs
(`conversationId` filter, newest first by `_id`, limit 51) is timed on both,
interleaved, on random conversations. The same documents are also stored with
`conversationId` as a string, and FerretDB's `explain` says what it pushed
down to storage in each case.

    .venv/bin/python -m bench.ferretdb_handlers
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import DESCENDING, AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError

from bench.common import (
    ferretdb_version,
    fmt,
    machine,
    markdown_table,
    percentile,
    postgres_version,
    write_section,
)
from parley.devstack.ferretdb_build import launcher_binary
from parley.devstack.ports import free_port, port_open
from parley.devstack.postgres import PostgresServer
from parley.devstack.process import ManagedProcess
from parley.ids import new_id
from parley.storage.mongo.schema import DIRECT_MESSAGES, INDEXES, ensure_schema

DMS = 20_000
CONVERSATIONS = 200
QUERIES = 40  # per handler and id encoding, at most
SERIES_BUDGET_S = 25.0  # and at most this long
PAGE = 51  # the service asks for limit + 1
UUID_COLLECTION = DIRECT_MESSAGES  # conversationId as BSON UUID, as Parley stores it
STRING_COLLECTION = "direct_messages_str"  # the same documents, conversationId as a string
ENCODINGS = {"uuid": UUID_COLLECTION, "string": STRING_COLLECTION}


def ferretdb(name: str, port: int, log_dir: Path, handler_args: list[str]) -> ManagedProcess:
    def ready() -> bool:
        if not port_open(port):
            return False
        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=500
        )
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            client.close()
        return True

    argv = [str(launcher_binary()), "-listen", f"127.0.0.1:{port}", *handler_args]
    return ManagedProcess(name=name, argv=argv, log_path=log_dir / f"{name}.log", ready=ready)


def documents(conversations: list[Any], author: Any, per_conversation: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    docs = []
    for i in range(per_conversation):
        for conversation in conversations:
            message_id = new_id()
            docs.append(
                {
                    "_id": message_id,
                    "conversationId": conversation,
                    "authorId": author,
                    "content": f"message {i} with a typical length of a short chat line",
                    "fileUrl": None,
                    "deleted": False,
                    "nonce": str(message_id),
                    "createdAt": now,
                    "updatedAt": now,
                }
            )
    return docs


async def load(client: AsyncMongoClient[dict[str, Any]], docs: list[dict[str, Any]]) -> float:
    """Load both collections (same indexes as Parley's); returns docs/s for the UUID one."""
    db = client.parley
    await ensure_schema(db)
    await db[STRING_COLLECTION].create_indexes(INDEXES[DIRECT_MESSAGES])
    started = time.perf_counter()
    for start in range(0, len(docs), 1000):
        await db[UUID_COLLECTION].insert_many(docs[start : start + 1000], ordered=False)
    seconds = time.perf_counter() - started
    as_strings = [{**doc, "conversationId": str(doc["conversationId"])} for doc in docs]
    for start in range(0, len(as_strings), 1000):
        await db[STRING_COLLECTION].insert_many(as_strings[start : start + 1000], ordered=False)
    return len(docs) / seconds


def page_filter(encoding: str, conversation: uuid.UUID) -> dict[str, Any]:
    return {"conversationId": conversation if encoding == "uuid" else str(conversation)}


async def page_ms(
    client: AsyncMongoClient[dict[str, Any]], encoding: str, conversation: uuid.UUID
) -> float:
    started = time.perf_counter()
    cursor = (
        client.parley[ENCODINGS[encoding]]
        .find(page_filter(encoding, conversation))
        .sort("_id", DESCENDING)
        .limit(PAGE)
    )
    found = [doc async for doc in cursor]
    assert len(found) == PAGE  # a wrong query would time nothing
    return (time.perf_counter() - started) * 1000


async def pushdown(
    client: AsyncMongoClient[dict[str, Any]], encoding: str, conversation: uuid.UUID
) -> str:
    """What FerretDB's `explain` says it pushed down to storage for the page query."""
    db = client.parley
    plan = await db.command(
        "explain",
        {"find": ENCODINGS[encoding], "filter": page_filter(encoding, conversation),
         "sort": {"_id": -1}, "limit": PAGE},
        codec_options=db.codec_options,
    )  # fmt: skip
    flags = ("filterPushdown", "sortPushdown", "limitPushdown")
    return ", ".join(f"{flag.removesuffix('Pushdown')}: {plan.get(flag)}" for flag in flags)


async def series(
    clients: dict[str, AsyncMongoClient[dict[str, Any]]],
    encoding: str,
    conversations: list[uuid.UUID],
) -> dict[str, list[float]]:
    """Page latencies per handler, interleaved, within QUERIES and SERIES_BUDGET_S."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    rng = random.Random(7)
    for client in clients.values():  # warm-up
        await page_ms(client, encoding, conversations[0])
    started = time.monotonic()
    while len(times["sqlite"]) < QUERIES and time.monotonic() - started < SERIES_BUDGET_S:
        conversation = rng.choice(conversations)
        for name, client in clients.items():
            times[name].append(await page_ms(client, encoding, conversation))
    return times


def ratio(p50: dict[tuple[str, str], float], a: tuple[str, str], b: tuple[str, str]) -> str:
    return f"{p50[a] / p50[b]:.2f}"


async def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="parley-bench-ferretdb-"))
    root.chmod(0o755)
    sqlite_dir = root / "sqlite"
    sqlite_dir.mkdir()
    backend = PostgresServer(root / "backend", free_port(), name="ferretdb-postgresql")
    ports = {"sqlite": free_port(), "postgresql": free_port()}
    handlers = {
        "sqlite": ferretdb(
            "sqlite", ports["sqlite"], root,
            ["-handler", "sqlite", "-sqlite-url", f"file:{sqlite_dir}/"],
        ),
        "postgresql": ferretdb(
            "postgresql", ports["postgresql"], root,
            ["-handler", "postgresql", "-postgresql-url", backend.url("ferretdb")],
        ),
    }  # fmt: skip
    clients: dict[str, AsyncMongoClient[dict[str, Any]]] = {}
    try:
        backend.start()
        backend.create_database("ferretdb")
        for process in handlers.values():
            process.start()
        author = new_id()
        conversations = [new_id() for _ in range(CONVERSATIONS)]
        docs = documents(conversations, author, DMS // CONVERSATIONS)
        load_rate: dict[str, float] = {}
        plans: dict[tuple[str, str], str] = {}
        for name in handlers:
            clients[name] = AsyncMongoClient(
                f"mongodb://127.0.0.1:{ports[name]}/", uuidRepresentation="standard"
            )
            load_rate[name] = await load(clients[name], docs)
            for encoding in ENCODINGS:
                plans[name, encoding] = await pushdown(clients[name], encoding, conversations[0])
            print(f"{name}: loaded {len(docs):,} documents twice", flush=True)
        times = {encoding: await series(clients, encoding, conversations) for encoding in ENCODINGS}
    finally:
        for client in clients.values():
            await client.close()
        for process in handlers.values():
            process.stop()
        backend.process.stop()
        shutil.rmtree(root, ignore_errors=True)

    rows = []
    for encoding in ENCODINGS:
        for name in handlers:
            lat = times[encoding][name]
            rows.append([
                f"{encoding}" + (" (Parley today)" if encoding == "uuid" else ""),
                name, f"{load_rate[name]:,.0f}", len(lat), fmt(percentile(lat, 50), 1),
                fmt(percentile(lat, 99), 1), plans[name, encoding],
            ])  # fmt: skip
    p50 = {(e, n): percentile(times[e][n], 50) for e in ENCODINGS for n in handlers}
    sqlite_pg_uuid = ratio(p50, ("uuid", "sqlite"), ("uuid", "postgresql"))
    sqlite_pg_string = ratio(p50, ("string", "sqlite"), ("string", "postgresql"))
    uuid_string_pg = ratio(p50, ("uuid", "postgresql"), ("string", "postgresql"))
    table = markdown_table(
        ["`conversationId` value", "handler", "load (docs/s)", "queries", "page p50 (ms)",
         "page p99 (ms)", "pushed down (explain)"],
        rows,
    )  # fmt: skip
    body = f"""
How to run: `.venv/bin/python -m bench.ferretdb_handlers` (about two minutes; starts two
FerretDB launchers and one PostgreSQL in a temp dir, removes them afterwards; rewrites this
section).

- Machine: {machine()}
- FerretDB {ferretdb_version()} through `tools/mongo-compat`; the PostgreSQL handler on
  {postgres_version()} (`fsync=on`, as the dev stack runs it); the SQLite handler on a local
  directory
- Data: {DMS:,} DMs over {CONVERSATIONS} conversations ({DMS // CONVERSATIONS} each), Parley's
  DM document shape and indexes (`ensure_schema`), loaded with `insert_many` of 1,000; the same
  documents once more in a second collection with `conversationId` stored as a string
- Query: Parley's history page, `find({{conversationId}}).sort(_id, -1).limit({PAGE})`, on random
  conversations, the two handlers interleaved, up to {QUERIES} queries or
  {SERIES_BUDGET_S:.0f} s per row

{table}

Ratios of the page p50, SQLite/PostgreSQL handler: **{sqlite_pg_uuid}x** with UUID values
(as Parley stores them), **{sqlite_pg_string}x** with string values. PostgreSQL handler,
UUID/string: **{uuid_string_pg}x**.

### What the numbers mean

The page p50 is one round trip of the query the DM history endpoint runs on MongoDB, measured
from the client. "Pushed down" is FerretDB's own `explain` output: `filter: False` means
FerretDB read and decoded **every document of the collection** and filtered in Go. FerretDB
v1 pushes equality filters down only for some scalar types (strings, numbers, booleans, …);
a BSON UUID (binary subtype 4) is not one of them, with either handler, so Parley's
`conversationId` (and `_id`) lookups are collection scans whose cost grows with the whole
collection, not with the conversation. Neither handler pushes down the sort or the limit, and
FerretDB v1 does not use the MongoDB-level indexes for these queries. The project uses the
PostgreSQL handler (`src/parley/devstack/mongo.py`); its module docstring says it "pushes
scalar equality filters (such as `conversationId`) down", which these numbers show is true
for string values only.
"""
    print(body)
    write_section("## FerretDB storage handler", body)


if __name__ == "__main__":
    asyncio.run(main())
