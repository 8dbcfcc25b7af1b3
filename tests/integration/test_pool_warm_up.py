"""The app's pools are full soon after it starts (issue 11: under load no
connection is opened after warm-up): it opens PostgreSQL's, PyMongo fills
MongoDB's (`minPoolSize`). A burst of requests right after the start finds
them open."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from sqlalchemy import event

from parley.devstack import DevStack
from parley.state import AppState
from parley.storage.postgres.database import FILL_AT_ONCE
from parley.storage.postgres.rate_limits import POOL_SIZE as RATE_LIMIT_POOL_SIZE
from tests.factories import make_dm, make_person
from tests.support import eventually


async def test_the_postgresql_pools_are_open_once_the_app_has_started(state: AppState) -> None:
    async def filled() -> bool:
        requests = state.postgres.engine.pool.checkedin()  # type: ignore[attr-defined]
        limiter = state.rate_windows.engine.pool.checkedin()  # type: ignore[attr-defined]
        return bool(requests == state.settings.pg_pool_size and limiter == RATE_LIMIT_POOL_SIZE)

    await eventually(filled)


def connections_of_this_process(port: int) -> int:
    """Established connections this process holds to 127.0.0.1:`port`."""
    fds = Path("/proc/self/fd")
    inodes = {
        link[len("socket:[") : -1]
        for link in (os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink())
        if link.startswith("socket:[")
    }
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        held += state == "01" and int(remote.split(":")[1], 16) == port and inode in inodes
    return held


async def test_the_mongodb_pool_is_filled_once_the_app_has_started(
    state: AppState, stack: DevStack
) -> None:
    async def filled() -> bool:
        return connections_of_this_process(stack.mongo.port) >= state.settings.mongo_pool_size

    await eventually(filled)


async def test_a_burst_after_the_warm_up_opens_no_postgresql_connection(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    url = f"/api/rooms/{await make_dm(state, ada, bob)}/messages"
    await test_the_postgresql_pools_are_open_once_the_app_has_started(state)
    opened: list[object] = []
    for engine in (state.postgres.engine, state.rate_windows.engine):
        event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))

    sends = [client.post(url, json={"content": f"m{n}"}, headers=ada.headers) for n in range(40)]
    answers = await asyncio.gather(*sends)

    assert [a.status_code for a in answers] == [201] * 40
    assert opened == []


async def test_filling_the_pool_opens_a_few_connections_at_a_time(state: AppState) -> None:
    """Filling the pool (the warm-up, and before PostgreSQL serves again after
    an outage) opens every connection, but only FILL_AT_ONCE at a time: all
    20 at once slowed every other call on a 2-CPU machine."""
    await test_the_postgresql_pools_are_open_once_the_app_has_started(state)  # warm-up over
    await state.replication.supervisor.stop()  # no background work opens connections
    engine = state.postgres.engine
    await engine.dispose()  # an empty pool: every connection must be opened
    connecting, most = 0, 0

    def started(*_: object) -> None:
        nonlocal connecting, most
        connecting += 1
        most = max(most, connecting)

    def finished(*_: object) -> None:
        nonlocal connecting
        connecting -= 1

    event.listen(engine.sync_engine, "do_connect", started)
    event.listen(engine.sync_engine, "connect", finished)

    await state.postgres.fill_pool(5.0)

    assert engine.pool.checkedin() == state.settings.pg_pool_size  # type: ignore[attr-defined]
    assert 1 < most <= FILL_AT_ONCE


async def test_a_cancelled_fill_leaves_no_connection_held(state: AppState) -> None:
    """A fill cancelled midway (shutdown, or the recovery hook's other half
    failing) returns every connection it took at once, not when its pings'
    long deadline ends."""
    await test_the_postgresql_pools_are_open_once_the_app_has_started(state)
    await state.replication.supervisor.stop()
    engine = state.postgres.engine
    await engine.dispose()
    started: list[object] = []
    opened: list[object] = []
    filling = asyncio.create_task(state.postgres.fill_pool(30.0))

    def connected(*_: object) -> None:
        opened.append(1)
        filling.cancel()  # as soon as the first connection is open

    event.listen(engine.sync_engine, "do_connect", lambda *_: started.append(1))
    event.listen(engine.sync_engine, "connect", connected)

    async def none_held() -> bool:
        idle = engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        return bool(filling.done() and idle and len(started) == len(opened))

    await eventually(none_held, timeout=5.0)
    assert len(opened) <= FILL_AT_ONCE  # the pings not yet begun took nothing
