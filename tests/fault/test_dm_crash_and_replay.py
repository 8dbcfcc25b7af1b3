"""The app killed with SIGKILL in the middle of sending, and several instances
replaying the same backlog at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from parley.app import create_app
from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess
from parley.replication.batching import BatchSize
from parley.settings import Settings
from parley.state import AppState
from tests.dm_support import markers_left, mongo_messages, postgres_messages
from tests.factories import make_dm, make_person
from tests.support import eventually

pytestmark = pytest.mark.fault


async def test_app_killed_mid_send_leaves_nothing_in_one_store(
    state: AppState, migrated: Settings, stack: DevStack
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    app = AppProcess(migrated, Path(stack.data_dir))
    app.start()
    acknowledged: set[str] = set()

    async def send(http: httpx.AsyncClient, i: int) -> None:
        try:
            response = await http.post(
                f"/api/rooms/{room}/messages", json={"content": f"m{i}"}, headers=ada.headers
            )
        except httpx.HTTPError:
            return  # the app died under this request
        if response.status_code == 201:
            acknowledged.add(response.json()["id"])

    async with httpx.AsyncClient(base_url=app.url, timeout=5) as http:
        senders = [asyncio.create_task(send(http, i)) for i in range(400)]
        waiting_since = time.monotonic()
        while len(acknowledged) < 50:
            assert time.monotonic() - waiting_since < 30, f"only {len(acknowledged)} acknowledged"
            await asyncio.sleep(0.005)
        app.kill()
        await asyncio.gather(*senders)

    assert acknowledged, "nothing was sent before the kill"

    # This test's own app instance (the `state` fixture) replays what was left.
    async def converged() -> bool:
        mongo = await mongo_messages(state, room)
        postgres = await postgres_messages(state, room)
        return mongo == postgres and await markers_left(state) == (0, 0)

    await eventually(converged, timeout=30, interval=0.2)
    stored = {str(i) for i in await mongo_messages(state, room)}
    assert acknowledged <= stored


async def test_two_instances_replay_one_backlog_without_loss_or_duplicates(
    client: httpx.AsyncClient, state: AppState, migrated: Settings, stack: DevStack
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    await eventually(lambda: _settled(state), timeout=20)
    stack.mongo.process.kill()
    sent: list[str] = []
    for i in range(300):
        response = await client.post(
            f"/api/rooms/{room}/messages", json={"content": f"b{i}"}, headers=ada.headers
        )
        assert response.status_code == 201
        sent.append(response.json()["id"])

    second: FastAPI = create_app(migrated)
    async with second.router.lifespan_context(second):
        second_state: AppState = second.state.parley
        for replay in (second_state.replication.replay, state.replication.replay):
            # Many small claims, maximum interleaving.
            replay.to_mongo_batch, replay.to_postgres_batch = BatchSize(50), BatchSize(50)
        stack.mongo.process.start()
        await eventually(lambda: _settled(state), timeout=30, interval=0.1)

    mongo = await mongo_messages(state, room)
    postgres = await postgres_messages(state, room)
    assert mongo == postgres
    assert sorted(str(i) for i in mongo) == sorted(sent)
    contents = [record.content for record in mongo.values()]
    assert len(contents) == len(set(contents)) == 300


async def _settled(state: AppState) -> bool:
    return await markers_left(state) == (0, 0)
