"""The cluster under test: a fresh dev stack (PostgreSQL and the MongoDB role)
and N `parley serve` instances on loopback, plus the people and DMs the
workload uses, and direct reads of both stores for the checker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.checker.checks import Store, Stored
from bench.common import bench_settings, bench_stack, raw_clients
from parley.app import build_state
from parley.cli.migrate import run_migrations
from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess
from parley.devstack.factories import Person, make_dm, make_person
from parley.settings import Settings

# The background verifier repairs drift; it would hide what the checker is
# there to find in the replication path (turn it on with --antientropy).
NO_ANTIENTROPY = {"PARLEY_ANTIENTROPY": "false"}
PEOPLE = ("ada", "bob", "cyd", "dee")
DMS = (("ada", "bob"), ("cyd", "dee"), ("ada", "cyd"))


@dataclass
class Cluster:
    stack: DevStack
    settings: Settings
    apps: list[AppProcess]
    people: dict[str, Person]
    rooms: dict[str, list[str]]  # person -> the DMs they are in
    log_dir: Path

    def target(self, name: str) -> Any:
        """A nemesis target by name: postgres, mongo, app0, app1, …"""
        if name == "postgres":
            return self.stack.postgres.process
        if name == "mongo":
            return self.stack.mongo.process
        return self.apps[int(name.removeprefix("app"))]

    @property
    def targets(self) -> list[str]:
        return ["postgres", "mongo", *(f"app{i}" for i in range(len(self.apps)))]

    def all_rooms(self) -> list[str]:
        return sorted({room for rooms in self.rooms.values() for room in rooms})

    async def snapshot(self) -> dict[str, Store]:
        """Every DM of the workload's rooms, as each store holds it."""
        rooms = self.all_rooms()
        async with raw_clients(self.settings) as (pool, mongo):
            rows = await pool.fetch(  # type: ignore[attr-defined]
                "SELECT id, conversation_id, author_id, content, file_url, deleted, nonce,"
                " created_at, updated_at FROM direct_messages WHERE conversation_id = ANY($1)",
                [uuid.UUID(r) for r in rooms],
            )
            db = mongo.get_default_database()
            docs = await db["direct_messages"].find({"conversationId": {"$in": rooms}}).to_list()
        postgres = {str(r["id"]): _stored_row(r) for r in rows}
        mongodb = {str(d["_id"]): _stored_doc(d) for d in docs}
        return {"postgres": postgres, "mongodb": mongodb}

    async def replay_backlog(self) -> int:
        """Replay markers left in either direction (0 once the stores converged)."""
        async with raw_clients(self.settings) as (pool, mongo):
            rows = await pool.fetchval("SELECT count(*) FROM mongo_replay_queue")  # type: ignore[attr-defined]
            db = mongo.get_default_database()
            docs = await db["pg_replay_queue"].count_documents({})
        return int(rows) + int(docs)


def _ms(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _stored_row(row: Any) -> Stored:
    return Stored(
        id=str(row["id"]),
        room=str(row["conversation_id"]),
        author=str(row["author_id"]),
        content=row["content"],
        deleted=row["deleted"],
        file_url=row["file_url"],
        nonce=row["nonce"],
        created_at=_ms(row["created_at"]),
        updated_at=_ms(row["updated_at"]),
    )


def _stored_doc(doc: dict[str, Any]) -> Stored:
    return Stored(
        id=str(doc["_id"]),
        room=str(doc["conversationId"]),
        author=str(doc["authorId"]),
        content=doc["content"],
        deleted=bool(doc.get("deleted", False)),
        file_url=doc.get("fileUrl"),
        nonce=doc["nonce"],
        created_at=_ms(doc["createdAt"]),
        updated_at=_ms(doc["updatedAt"]),
    )


async def _people_and_dms(settings: Settings) -> tuple[dict[str, Person], dict[str, list[str]]]:
    state = build_state(settings)
    try:
        people = {name: await make_person(state, name, token_seconds=4 * 3600) for name in PEOPLE}
        rooms: dict[str, list[str]] = {name: [] for name in PEOPLE}
        for a, b in DMS:
            room = str(await make_dm(state, people[a], people[b]))
            rooms[a].append(room)
            rooms[b].append(room)
        return people, rooms
    finally:
        await state.mongo.close()
        await state.postgres.dispose()


@contextlib.asynccontextmanager
async def cluster(instances: int, antientropy: bool, log_dir: Path) -> Any:
    # bench_settings points this process's environment at the cluster's
    # servers; put it back after, or a test suite running this would send its
    # later subprocesses to servers that are gone.
    saved = dict(os.environ)
    try:
        async with _cluster(instances, antientropy, log_dir) as running:
            yield running
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.asynccontextmanager
async def _cluster(instances: int, antientropy: bool, log_dir: Path) -> Any:
    with bench_stack("chaos") as stack:
        settings = bench_settings(stack)  # rate limits off: one address, many sends
        await run_migrations(settings)
        people, rooms = await _people_and_dms(settings)
        env = {} if antientropy else NO_ANTIENTROPY
        apps = [AppProcess(settings, log_dir, env) for _ in range(instances)]
        try:
            await asyncio.gather(*(asyncio.to_thread(app.start) for app in apps))
            yield Cluster(stack, settings, apps, people, rooms, log_dir)
        finally:
            for app in apps:
                app.stop()
