"""Realtime delivery while a database is down, with two real `parley serve`
processes: DMs keep flowing while MongoDB is frozen; while PostgreSQL is down a
DM still reaches subscribers on the instance that accepted it, and subscribers
on the other instance get it (and a `resync`) once PostgreSQL is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.devstack import DevStack
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo.schema import CONVERSATIONS, PROFILES, key
from tests.factories import Person, make_dm, make_person
from tests.integration.test_realtime_support import Client, client, parley_process, post_json
from tests.support import ensure_running, eventually

pytestmark = pytest.mark.fault


@pytest.fixture
def cluster(migrated: Settings, tmp_path: Path) -> Iterator[list[str]]:
    """Two new instances for each test. Ones a previous fault had hit could
    still be healing (a LISTEN connection in its reconnect backoff, a peer's
    lost connection not yet noticed) and would send this test's subscribers a
    `resync` at a moment it did not cause."""
    with (
        parley_process(migrated, str(tmp_path / "a.log")) as a,
        parley_process(migrated, str(tmp_path / "b.log")) as b,
    ):
        yield [a, b]


@pytest.fixture
def restore(stack: DevStack) -> Iterator[None]:
    yield
    ensure_running(stack)


async def send(base: str, person: Person, room: uuid.UUID, content: str) -> dict[str, Any]:
    body = {"content": content, "nonce": uuid.uuid4().hex}
    for _ in range(20):  # the first calls of an outage may answer 503 before fallback
        response = await post_json(base, f"/api/rooms/{room}/messages", person.token, body)
        if response.status_code in (200, 201):
            reply: dict[str, Any] = response.json()
            return reply
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.2)
    raise AssertionError("the DM was never acknowledged")


async def mirrored(state: AppState, dm: uuid.UUID, *people: Person) -> None:
    """Wait until MongoDB holds what a DM needs while PostgreSQL is down."""

    async def ready() -> bool:
        db = state.mongo.db
        conversation = await db[CONVERSATIONS].find_one({"_id": key(dm)})
        profiles = await db[PROFILES].count_documents({"_id": {"$in": [key(p.id) for p in people]}})
        return conversation is not None and profiles == len(people)

    await eventually(ready, timeout=15)


async def test_dms_flow_across_instances_while_mongo_is_frozen(
    cluster: list[str], state: AppState, stack: DevStack, restore: None
) -> None:
    a, b = cluster
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    async with client(a, ada.token) as on_a, client(b, bob.token) as on_b:
        await on_a.subscribe(dm)
        await on_b.subscribe(dm)
        stack.mongo.process.freeze()
        started = time.monotonic()
        for i in range(5):
            reply = await send(b, bob, dm, f"while frozen {i}")
            for c in (on_a, on_b):
                frame = await c.expect("message.created", roomId=str(dm))
                assert frame["message"] == reply
        assert time.monotonic() - started < 10
        # New subscriptions work too: PostgreSQL answers the access check.
        async with client(a, ada.token) as late:
            assert (await late.subscribe(dm))["type"] == "subscribed"
            reply = await send(a, ada, dm, "still frozen")
            await late.expect("message.created", message=reply)
        stack.mongo.process.thaw()


FAULTS: dict[str, tuple[Callable[[DevStack], None], Callable[[DevStack], None]]] = {
    "killed": (lambda s: s.postgres.process.kill(), lambda s: s.postgres.process.start()),
    "frozen": (lambda s: s.postgres.process.freeze(), lambda s: s.postgres.process.thaw()),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_dm_delivery_while_postgres_is_down(
    fault: str, cluster: list[str], state: AppState, stack: DevStack, restore: None
) -> None:
    a, b = cluster
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    await mirrored(state, dm, ada, bob)
    break_it, repair = FAULTS[fault]
    async with client(a, ada.token) as ada_on_a, client(b, ada.token) as ada_on_b:
        await ada_on_a.subscribe(dm)
        await ada_on_b.subscribe(dm)
        before = await send(b, bob, dm, "before the outage")
        for c in (ada_on_a, ada_on_b):
            await c.expect("message.created", message=before)
        break_it(stack)
        # Same instance: delivered at once, PostgreSQL plays no part.
        reply = await send(b, bob, dm, "postgres is down")
        await ada_on_b.expect("message.created", message=reply)
        # A DM subscription made during the outage is authorised through MongoDB.
        async with client(b, ada.token) as late:
            assert (await late.subscribe(dm))["type"] == "subscribed"
            second = await send(b, bob, dm, "still down")
            await late.expect("message.created", message=second)
        await ada_on_b.expect("message.created", message=second)
        # The other instance cannot hear B while PostgreSQL is down ...
        await ada_on_a.nothing(0.5)
        repair(stack)
        # ... and catches up once it is back: B sends what it buffered, and A,
        # if its LISTEN connection was lost (always after a kill), says `resync`;
        # the client then fills the gap over REST, as docs/REALTIME.md says.
        outage = {reply["id"], second["id"]}
        # After a freeze A may also have noticed B's old connection gone; after
        # a kill A's own connection was lost, and coming back is what it says.
        reasons = {"transport_reconnected"} | ({"instance_lost"} if fault == "frozen" else set())
        seen, resynced = await catch_up(ada_on_a, outage, reasons, timeout=20)
        if resynced:
            seen |= await fetch_after(a, ada, dm, before["id"])
        assert outage <= seen
        if fault == "killed":
            assert resynced


async def catch_up(
    c: Client, ids: set[str], reasons: set[str], timeout: float
) -> tuple[set[str], bool]:
    """Read until every message in `ids` arrived or a resync (for one of
    `reasons`) did."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not ids <= seen:
        try:
            frame = await c.recv(max(deadline - time.monotonic(), 0.01))
        except TimeoutError:
            raise AssertionError(f"no events and no resync; got {c.seen}") from None
        if frame["type"] == "resync":
            assert frame["reason"] in reasons, frame
            return seen, True
        if frame["type"] == "message.created":
            seen.add(frame["message"]["id"])
    return seen, False


async def fetch_after(base: str, person: Person, room: uuid.UUID, after: str) -> set[str]:
    async with httpx.AsyncClient(base_url=base, headers=person.headers, timeout=5) as http:
        for _ in range(50):
            response = await http.get(f"/api/rooms/{room}/messages", params={"after": after})
            if response.status_code == 200:
                return {item["id"] for item in response.json()["items"]}
            await asyncio.sleep(0.2)
    raise AssertionError("the gap could not be filled over REST")
