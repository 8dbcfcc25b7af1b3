"""Many DMs loaded straight into both stores, for benchmarks that must not run
on an empty database.

People, conversations (with MongoDB's mirror of both) and DMs are written with
the same ids and fields the app stores (`to_document`, the `direct_messages`
table), timestamps an hour old, so nothing is in flight and no replay marker
exists. One conversation can be made much larger than the rest. Tokens are
issued for the people of the chosen conversations, so the API serves them.

The load goes to every ordinary conversation in turn, not to one: a benchmark
sends tens of thousands of DMs, which would make its one conversation the
largest by far, and on the local MongoDB role (FerretDB v1, no sort or limit
pushdown) a page costs what its conversation holds, about 45 ms per 1,000
messages on the Intel Xeon machine. Spread over all of them, each stays about
the size of the others, as users' conversations are. (Spread over 100, each
grew to three times the others' size in a run, and FerretDB's CPU, not
failover, set the result.)

Loading only: it measures nothing and checks only that both stores agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo

from parley.auth.tokens import issue_token
from parley.devstack.factories import Person
from parley.ids import new_id
from parley.settings import Settings
from parley.storage.mongo.direct_messages import to_document
from parley.storage.mongo.mirror import conversation_document, profile_document
from parley.storage.records import MessageRecord

INSERT_BATCH = 1_000
TOKEN_SECONDS = 4 * 3600
# FerretDB counts by reading every document (`counts`).
COUNT_SECONDS = 120
COLUMNS = ["id", "conversation_id", "author_id", "content", "file_url", "deleted", "nonce",
           "created_at", "updated_at"]  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    conversations: int
    messages: int  # all DMs loaded, the large conversation's included
    measured: list[tuple[Person, Person, uuid.UUID]]  # ordinary conversations
    large: tuple[Person, Person, uuid.UUID]  # the conversation holding `large_size`
    large_size: int


def _people_for(conversations: int) -> int:
    n = 2
    while n * (n - 1) // 2 < conversations:
        n += 1
    return n


def _message(n: int, room: uuid.UUID, pair: tuple[uuid.UUID, uuid.UUID], at: datetime) -> Any:
    text = f"message {n}: the quick brown fox jumps over the lazy dog"
    m = MessageRecord(new_id(), room, pair[n % 2], text, None, False, f"pre{n}", at, at)
    return m


async def load(
    settings: Settings, pool: Any, mongo: Any, conversations: int, messages: int, large_size: int
) -> Dataset:
    """`messages` DMs spread evenly over `conversations`, plus `large_size` more
    in the first conversation."""
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).replace(microsecond=now.microsecond // 1000 * 1000)
    people = [new_id() for _ in range(_people_for(conversations))]
    pairs = [(a, b) for i, a in enumerate(people) for b in people[i + 1 :]][:conversations]
    rooms = [(new_id(), min(pair), max(pair)) for pair in pairs]
    db = mongo[settings.mongo_database]
    await pool.executemany(
        "INSERT INTO profiles (id, email, name, password_hash) VALUES ($1, $2, $3, 'x')",
        [(p, f"{p.hex}@example.com", f"P{p.hex[:6]}") for p in people],
    )
    await pool.executemany(
        "INSERT INTO conversations (id, profile_one_id, profile_two_id) VALUES ($1, $2, $3)",
        rooms,
    )
    await db.profiles.insert_many(
        [profile_document(p, f"P{p.hex[:6]}", None, start) for p in people]
    )
    await db.dm_conversations.insert_many(
        [conversation_document(c, (a, b), start) for c, a, b in rooms]
    )
    total = messages + large_size
    for first in range(0, total, INSERT_BATCH * 10):
        batch = []
        for n in range(first, min(total, first + INSERT_BATCH * 10)):
            room, one, two = rooms[n % conversations] if n < messages else rooms[0]
            batch.append(_message(n, room, (one, two), start + timedelta(milliseconds=n)))
        await pool.copy_records_to_table(
            "direct_messages",
            records=[(m.id, m.room_id, m.author_id, m.content, m.file_url, m.deleted, m.nonce,
                      m.created_at, m.updated_at) for m in batch],
            columns=COLUMNS,
        )  # fmt: skip
        for i in range(0, len(batch), INSERT_BATCH):
            docs = [to_document(m) for m in batch[i : i + INSERT_BATCH]]
            await db.direct_messages.insert_many(docs, ordered=False)
    await pool.execute("ANALYZE")
    secret = settings.jwt_secret.get_secret_value()

    def persons(room: tuple[uuid.UUID, uuid.UUID, uuid.UUID]) -> tuple[Person, Person, uuid.UUID]:
        one, two = (Person(p, f"P{p.hex[:6]}", issue_token(p, secret, TOKEN_SECONDS))
                    for p in room[1:])  # fmt: skip
        return one, two, room[0]

    measured = [persons(room) for room in rooms[1:]]
    return Dataset(conversations, total, measured, persons(rooms[0]), large_size)


async def counts(settings: Settings, pool: Any, mongo: Any) -> dict[str, tuple[int, int]]:
    """(PostgreSQL, MongoDB) counts of people, conversations and DMs. FerretDB
    counts by reading every document: under a CPU quota, 105,000 of them took
    longer than the bench client's 10 s socket timeout, hence a longer one."""
    db = mongo[settings.mongo_database]
    pairs = {
        "people": ("profiles", "profiles"),
        "conversations": ("conversations", "dm_conversations"),
        "DMs": ("direct_messages", "direct_messages"),
    }
    out = {}
    for name, (table, collection) in pairs.items():
        rows = await pool.fetchval(f"SELECT count(*) FROM {table}")  # fixed names
        with pymongo.timeout(COUNT_SECONDS):
            out[name] = (int(rows), int(await db[collection].count_documents({})))
    return out
