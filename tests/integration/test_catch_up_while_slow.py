"""A store taken off user traffic for being slow still gets what it missed.

At 70 % of saturation the MongoDB role, busy catching up after a failover,
opened its breaker for slowness again and again, and replay paused with it
each time: its backlog only shrank in the gaps (convergence took 42 s in the
failover benchmark). A breaker opened by slow calls alone, on a store that
still answers, now lets replay through while requests go to the other store.
"""

from __future__ import annotations

import dataclasses

import httpx

from parley.replication.replay import GRACE_SECONDS
from parley.resilience._breaker import OPEN
from parley.state import AppState
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import make_dm, make_person
from tests.support import eventually


def _open_for_slowness(state: AppState) -> None:
    """MongoDB's breaker opened by slow answers (as under overload), kept open
    for the whole test: its probe would otherwise close it after a second."""
    breaker = state.replication.mongo_breaker
    breaker.policy = dataclasses.replace(breaker.policy, open_wait=300.0)
    for _ in range(breaker.policy.window):
        breaker.record_success(seconds=breaker.policy.slow_call_duration * 2)
    assert breaker.state == OPEN


async def test_replay_reaches_a_store_open_only_for_slowness(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    _open_for_slowness(state)

    sent = await client.post(
        f"/api/rooms/{room}/messages", json={"content": "while slow"}, headers=ada.headers
    )
    assert sent.status_code == 201, sent.text
    assert sent.headers["X-Data-Source"] == "postgresql"  # requests went elsewhere
    message_id = sent.json()["id"]
    assert message_id not in {str(i) for i in await mongo_messages(state, room)}

    async def delivered() -> bool:
        return message_id in {str(i) for i in await mongo_messages(state, room)}

    await eventually(delivered, timeout=GRACE_SECONDS + 5)
    assert state.replication.mongo_breaker.state == OPEN  # delivered while still open
    assert await mongo_messages(state, room) == await postgres_messages(state, room)
    page = await client.get(f"/api/rooms/{room}/messages", headers=ada.headers)
    assert page.headers["X-Data-Source"] == "postgresql"  # reads stay off the slow store


async def test_replay_waits_while_the_slow_store_has_stopped_answering(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    _open_for_slowness(state)
    stall = state.replication.mongo_breaker.stall
    stall.missed_deadline(stall.now())  # as if its last call got no answer

    sent = await client.post(
        f"/api/rooms/{room}/messages", json={"content": "while stalled"}, headers=ada.headers
    )
    assert sent.status_code == 201, sent.text
    state.replication.replay.kick()
    assert not await state.replication.replay.run_once()
    assert sent.json()["id"] not in {str(i) for i in await mongo_messages(state, room)}
