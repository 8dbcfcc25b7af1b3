"""`parley verify` on 100,000 DMs across 1,000 conversations: wall time and
peak memory when the stores agree and when 100 messages differ, against the
baseline of one full read of the same ids from both stores.

The DMs (and the profiles and conversations they need, with MongoDB's mirror)
are loaded straight into both stores with timestamps an hour old, so nothing
is in flight. `parley verify --json` runs as a subprocess that reports its
own peak resident memory (`VmHWM`, interpreter and imports included) as it
exits. Not `ru_maxrss` from `wait4`: Linux carries the parent's peak over into
a child it starts with vfork and exec (as `subprocess` does), so that number
was this process's own, loaded with 100,000 records.

    .venv/bin/python -m bench.antientropy
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import (
    bench_settings,
    bench_stack,
    describe_servers,
    fmt,
    machine,
    markdown_table,
    mongo_server_version,
    raw_clients,
    write_section,
)
from parley.cli.migrate import run_migrations
from parley.ids import new_id
from parley.storage.mongo.direct_messages import to_document
from parley.storage.mongo.mirror import conversation_document, profile_document
from parley.storage.records import MessageRecord

MESSAGES = 100_000
CONVERSATIONS = 1_000
PEOPLE = 60
DIVERGENT = 100
INSERT_BATCH = 1_000


def _records(start: datetime) -> tuple[list[Any], list[Any], list[MessageRecord]]:
    people = [new_id() for _ in range(PEOPLE)]
    pairs = [(a, b) for i, a in enumerate(people) for b in people[i + 1 :]][:CONVERSATIONS]
    conversations = [(new_id(), *sorted(pair)) for pair in pairs]
    per_room = MESSAGES // CONVERSATIONS
    messages = []
    for n in range(MESSAGES):
        room, one, two = conversations[n % CONVERSATIONS]
        at = start + timedelta(milliseconds=n)  # start is whole milliseconds, as BSON
        author = one if n % 2 else two
        text = f"message {n} in {n % per_room}: the quick brown fox jumps over the lazy dog"
        messages.append(MessageRecord(new_id(), room, author, text, None, False, str(n), at, at))
    return people, conversations, messages


async def load(settings: Any, start: datetime) -> list[MessageRecord]:
    people, conversations, messages = _records(start)
    async with raw_clients(settings) as (pool, mongo):
        db = mongo[settings.mongo_database]
        await pool.executemany(  # type: ignore[attr-defined]
            "INSERT INTO profiles (id, email, name, password_hash) VALUES ($1, $2, $3, 'x')",
            [(p, f"{p.hex}@example.com", f"P{p.hex[:6]}") for p in people],
        )
        await pool.executemany(  # type: ignore[attr-defined]
            "INSERT INTO conversations (id, profile_one_id, profile_two_id) VALUES ($1, $2, $3)",
            conversations,
        )
        await db.profiles.insert_many(
            [profile_document(p, f"P{p.hex[:6]}", None, start) for p in people]
        )
        await db.dm_conversations.insert_many(
            [conversation_document(c, (a, b), start) for c, a, b in conversations]
        )
        rows = [
            (m.id, m.room_id, m.author_id, m.content, m.file_url, m.deleted, m.nonce,
             m.created_at, m.updated_at)
            for m in messages
        ]  # fmt: skip
        await pool.copy_records_to_table(  # type: ignore[attr-defined]
            "direct_messages",
            records=rows,
            columns=["id", "conversation_id", "author_id", "content", "file_url", "deleted",
                     "nonce", "created_at", "updated_at"],
        )  # fmt: skip
        for i in range(0, len(messages), INSERT_BATCH):
            docs = [to_document(m) for m in messages[i : i + INSERT_BATCH]]
            await db.direct_messages.insert_many(docs, ordered=False)
    return messages


async def tamper(settings: Any, messages: list[MessageRecord]) -> None:
    """100 divergent messages: a third missing in MongoDB, a third with other
    content in PostgreSQL (same updatedAt), a third older in MongoDB."""
    chosen = random.Random(7).sample(messages, DIVERGENT)
    async with raw_clients(settings) as (pool, mongo):
        collection = mongo[settings.mongo_database].direct_messages
        for n, m in enumerate(chosen):
            if n % 3 == 0:
                await collection.delete_one({"_id": str(m.id)})
            elif n % 3 == 1:
                await pool.execute(  # type: ignore[attr-defined]
                    "UPDATE direct_messages SET content = 'tampered' WHERE id = $1", m.id
                )
            else:
                older = m.updated_at - timedelta(seconds=1)
                await collection.update_one(
                    {"_id": str(m.id)}, {"$set": {"content": "old", "updatedAt": older}}
                )


async def full_read(settings: Any) -> dict[str, float]:
    """The baseline: every DM's compared fields read once from each store."""
    async with raw_clients(settings) as (pool, mongo):
        started = time.perf_counter()
        n_pg = 0
        async with pool.acquire() as conn, conn.transaction():  # type: ignore[attr-defined]
            async for _ in conn.cursor(
                "SELECT id, updated_at, deleted, content, file_url FROM direct_messages",
                prefetch=5000,
            ):
                n_pg += 1
        postgres = time.perf_counter() - started
        started = time.perf_counter()
        fields = {"_id": 1, "updatedAt": 1, "deleted": 1, "content": 1, "fileUrl": 1}
        cursor = mongo[settings.mongo_database].direct_messages.find({}, fields)
        n_mongo = len([doc async for doc in cursor.batch_size(5000)])
        mongodb = time.perf_counter() - started
    assert n_pg == n_mongo == MESSAGES, (n_pg, n_mongo)
    return {"postgresql": postgres, "mongodb": mongodb, "total": postgres + mongodb}


# `python -m parley.cli ARGS`, printing its own peak RSS on stderr as it exits.
PEAK_REPORTING_CLI = """
import atexit, re, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        kib = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    print(f"peak_rss_kib={kib}", file=sys.stderr)
atexit.register(peak)
sys.argv[0] = "parley"
runpy.run_module("parley.cli", run_name="__main__")
"""


def run_verify() -> tuple[float, float, int, dict[str, Any]]:
    """(seconds, peak RSS MiB, exit status, report) of one `parley verify --json`."""
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", PEAK_REPORTING_CLI, "verify", "--json"],
        capture_output=True,
        env={**os.environ, "PARLEY_ANTIENTROPY_SETTLE": "0"},
        check=False,
    )
    seconds = time.perf_counter() - started
    peak = re.search(r"^peak_rss_kib=(\d+)$", process.stderr.decode(), re.MULTILINE)
    assert peak is not None, process.stderr.decode()[-2000:]
    peak_kib = int(peak.group(1))
    report: dict[str, Any] = json.loads(process.stdout)
    return seconds, peak_kib / 1024, process.returncode, report


def startup_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "parley.cli", "verify", "--help"], check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


Result = tuple[float, float, int, dict[str, Any]]


async def one_run() -> tuple[str, float, dict[str, float], Result, Result, float]:
    with bench_stack("antientropy") as stack:
        settings = bench_settings(stack)
        await run_migrations(settings)
        started = time.perf_counter()
        hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        messages = await load(settings, hour_ago)
        load_s = time.perf_counter() - started
        print(f"loaded {MESSAGES} DMs in {load_s:.1f} s", flush=True)
        async with raw_clients(settings) as (_, mongo):
            servers = describe_servers(stack, await mongo_server_version(mongo))
        baseline = await full_read(settings)
        print(f"full read: {baseline}", flush=True)
        agree = run_verify()
        print(f"agree: {agree[:3]}", flush=True)
        await tamper(settings, messages)
        differ = run_verify()
        print(f"differ: {differ[:3]} {differ[3]['byKind']}", flush=True)
        startup = startup_seconds()
    return servers, load_s, baseline, agree, differ, startup


async def main(runs: int = 3) -> None:
    done = [await one_run() for _ in range(runs)]
    write(done)


def write(runs: list[tuple[str, float, dict[str, float], Result, Result, float]]) -> None:
    rows = []
    for n, (_, _, baseline, agree, differ, _) in enumerate(runs, 1):
        total = baseline["total"]
        rows.append([
            n, fmt(total, 2), fmt(agree[0], 2), fmt(agree[1], 0), fmt(agree[0] / total, 2),
            fmt(differ[0], 2), fmt(differ[1], 0), differ[3]["divergent"],
            ", ".join(f"{k} {v}" for k, v in differ[3]["byKind"].items() if v),
        ])  # fmt: skip
    header = [
        "run", "full read (s)", "verify, agree (s)", "peak RSS (MiB)", "x full read",
        f"verify, {DIVERGENT} differ (s)", "peak RSS (MiB)", "found", "by kind",
    ]  # fmt: skip
    servers, load_s, _, _, _, startup = runs[-1]
    body = f"""
`bench/antientropy.py`: {len(runs)} runs, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. Each run
starts its own PostgreSQL and MongoDB role in a temp dir, loads {MESSAGES:,} DMs across
{CONVERSATIONS:,} conversations straight into both stores (about {load_s:.0f} s), then times
`parley verify --json` as a subprocess, with the stores agreeing and then with
{DIVERGENT} messages made to differ.

- Machine: {machine()}; nothing else running
- Servers: {servers}
- "Full read" is the baseline: every DM's compared fields read once from each store, one
  after the other (PostgreSQL with a server-side cursor, MongoDB streaming one `find`)
- `parley verify` times include starting the process (about {startup:.1f} s for
  `verify --help`); peak RSS is the whole process (interpreter and imports included)
- Targets (issue 13): peak memory under 200 MB; verify of agreeing stores within 3x the
  full read

{markdown_table(header, rows)}
"""
    write_section("## Anti-entropy", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs, each on a fresh stack")
    asyncio.run(main(parser.parse_args().runs))
