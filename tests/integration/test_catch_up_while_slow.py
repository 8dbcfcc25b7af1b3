"""A store taken off user traffic for being slow still gets what it missed.

At 70 % of saturation the MongoDB role, busy catching up after a failover,
opened its breaker for slowness again and again, and replay paused with it
each time: its backlog only shrank in the gaps (convergence took 42 s in the
failover benchmark). A breaker opened by slow calls alone, on a store that
still answers, now lets replay through while requests go to the other store.
"""

from __future__ import annotations

import dataclasses
import uuid

import httpx

from parley.replication.replay import GRACE_SECONDS
from parley.resilience._breaker import OPEN
from parley.state import AppState
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import Person, make_dm, make_person
from tests.support import eventually


def _open_for_slowness(state: AppState) -> None:
    """MongoDB's breaker opened by slow answers (as under overload), kept open
    for the whole test: its probe would otherwise close it after a second."""
    breaker = state.replication.mongo_breaker
    breaker.policy = dataclasses.replace(breaker.policy, open_wait=300.0)
    for _ in range(breaker.policy.window):
        breaker.record_success(seconds=breaker.policy.slow_call_duration * 2)
    assert breaker.state == OPEN


async def _send_while_slow(
    client: httpx.AsyncClient, state: AppState, *, stalled: bool = False
) -> tuple[uuid.UUID, Person, str]:
    """A DM sent while MongoDB's breaker is open for slowness (and, if
    `stalled`, MongoDB has not answered since a missed deadline): the room,
    its sender and the message id."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    _open_for_slowness(state)
    if stalled:
        stall = state.replication.mongo_breaker.stall
        stall.missed_deadline(stall.now())  # as if its last call got no answer
    sent = await client.post(
        f"/api/rooms/{room}/messages", json={"content": "while slow"}, headers=ada.headers
    )
    assert sent.status_code == 201, sent.text
    assert sent.headers["X-Data-Source"] == "postgresql"  # requests went elsewhere
    return room, ada, str(sent.json()["id"])


async def _in_mongo(state: AppState, room: uuid.UUID, message_id: str) -> bool:
    return message_id in {str(i) for i in await mongo_messages(state, room)}


async def test_replay_reaches_a_store_open_only_for_slowness(
    client: httpx.AsyncClient, state: AppState
) -> None:
    room, ada, message_id = await _send_while_slow(client, state)
    assert not await _in_mongo(state, room, message_id)

    await eventually(lambda: _in_mongo(state, room, message_id), timeout=GRACE_SECONDS + 5)
    assert state.replication.mongo_breaker.state == OPEN  # delivered while still open
    assert await mongo_messages(state, room) == await postgres_messages(state, room)
    page = await client.get(f"/api/rooms/{room}/messages", headers=ada.headers)
    assert page.headers["X-Data-Source"] == "postgresql"  # reads stay off the slow store


async def test_replay_waits_while_the_slow_store_has_stopped_answering(
    client: httpx.AsyncClient, state: AppState
) -> None:
    # This test drives replay itself. And no background call may be in flight:
    # one answering after the simulated missed deadline would end the stall.
    await state.replication.supervisor.stop()
    room, _, message_id = await _send_while_slow(client, state, stalled=True)
    assert not await state.replication.replay.run_once()
    assert not await _in_mongo(state, room, message_id)


async def test_a_read_only_the_slow_store_can_complete_is_asked_of_it(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """Seen after PostgreSQL restarted at 167 DMs/s: MongoDB, busy with
    replay, opened for slowness, and every read of a conversation PostgreSQL
    was still catching up on answered 503 (PostgreSQL alone could hide what
    it lacks). MongoDB is the only store that can complete such a read: it is
    asked while open for slowness alone. Reads of other conversations still
    go to PostgreSQL."""
    ada, bob, cy = [await make_person(state, name) for name in ("Ada", "Bob", "Cy")]
    lagging, current = await make_dm(state, ada, bob), await make_dm(state, ada, cy)
    _open_for_slowness(state)
    # A write PostgreSQL has not settled yet (the backlog refresher, still
    # running, keeps the view fresh and leaves this alone).
    state.replication.backlog.hold(lagging, "postgresql")

    page = await client.get(f"/api/rooms/{lagging}/messages", headers=ada.headers)
    assert page.status_code == 200, page.text
    assert "mongodb" in page.headers["X-Data-Source"]
    page = await client.get(f"/api/rooms/{current}/messages", headers=ada.headers)
    assert page.headers["X-Data-Source"] == "postgresql"

    # Frozen, not slow: no answer since a missed deadline. (No background call
    # may answer meanwhile and end the stall.)
    await state.replication.supervisor.stop()
    stall = state.replication.mongo_breaker.stall
    stall.missed_deadline(stall.now())
    page = await client.get(f"/api/rooms/{lagging}/messages", headers=ada.headers)
    assert page.status_code == 503
