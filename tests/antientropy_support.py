"""Helpers for anti-entropy tests: a verifier with no settle time, sending
through the API, waiting for the replay queues, SQL behind the app's back,
and running the `parley` console script."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from parley.replication.repair import Repairer
from parley.replication.verify import Scope, Verifier
from parley.replication.walk import walk
from parley.state import AppState
from tests.dm_support import markers_left
from tests.factories import Person
from tests.support import eventually

ALL = Scope()


def verifier_of(state: AppState, settle: float = 0.0) -> Verifier:
    """A verifier that treats every settled version as comparable at once
    (the tests wait for the replay queues to drain instead)."""
    replication = state.replication
    return Verifier(
        replication.mongo.for_background(),
        replication.postgres.for_background(),
        settle=settle,
        recheck_delay=0.1,
    )


async def send(client: httpx.AsyncClient, person: Person, room: uuid.UUID, n: int) -> list[str]:
    ids = []
    for i in range(n):
        sent = await client.post(
            f"/api/rooms/{room}/messages", json={"content": f"m{i}"}, headers=person.headers
        )
        assert sent.status_code == 201, sent.text
        ids.append(sent.json()["id"])
    return ids


async def settled(state: AppState) -> None:
    async def drained() -> bool:
        return await markers_left(state) == (0, 0)

    await eventually(drained, timeout=20)


async def postgres_sql(state: AppState, sql: str, **params: Any) -> None:
    async with state.postgres.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def repair(state: AppState) -> None:
    """What `parley repair` does: walk, fix through the queues, then the
    app's replay worker delivers."""
    repairer = Repairer(state.replication.mongo.for_background(), state.replication.postgres)
    await walk(verifier_of(state), ALL, on_found=repairer.fix_all)
    state.replication.replay.kick()
    await settled(state)


def parley(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script, with no settle time (the tests wait for the queues)."""
    env = {**os.environ, "PARLEY_ANTIENTROPY_SETTLE": "0"}
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
