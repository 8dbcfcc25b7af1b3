"""`parley serve --workers 2`: two processes on one port, each its own instance.
A subscriber held by one worker receives what is posted through the other,
also while MongoDB is frozen (DMs then go to PostgreSQL alone)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.devstack import DevStack
from parley.settings import Settings
from parley.state import AppState
from tests.factories import Person, make_dm, make_person
from tests.integration.test_realtime_support import Client, client, parley_process
from tests.support import ensure_running

# Connections tried before concluding that the kernel never handed one to a
# worker; each is accepted by whichever worker takes it first.
ATTEMPTS = 200


@pytest.fixture(scope="module")
def two_workers(migrated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = Path(tmp_path_factory.mktemp("workers"))
    with parley_process(migrated, str(logs / "serve.log"), workers=2) as url:
        yield url


@pytest.fixture
async def bob(state: AppState) -> Person:
    return await make_person(state, "Bob")


@pytest.fixture
async def subscribers(two_workers: str, bob: Person) -> AsyncIterator[dict[str, Client]]:
    """One of Bob's WebSockets on each worker, keyed by worker instance."""
    held: dict[str, Client] = {}
    async with AsyncExitStack() as stack:
        for _ in range(ATTEMPTS):
            c = await stack.enter_async_context(client(two_workers))
            await c.send({"op": "auth", "token": bob.token})
            held.setdefault((await c.expect("authenticated"))["instance"], c)
            if len(held) == 2:
                break
        assert len(held) == 2, "every connection went to one worker"
        yield held


async def post_through_each_worker(
    url: str, person: Person, room: uuid.UUID
) -> dict[str, dict[str, Any]]:
    """One DM sent through each worker: a health call and a send on one
    keep-alive connection reach the same process."""
    sent: dict[str, dict[str, Any]] = {}
    for _ in range(ATTEMPTS):
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            instance = (await http.get("/api/health")).json()["instance"]
            if instance in sent:
                continue
            body = {"content": f"via {instance}", "nonce": uuid.uuid4().hex}
            reply = await http.post(
                f"/api/rooms/{room}/messages", json=body, headers=person.headers
            )
            assert reply.status_code == 201, reply.text
            sent[instance] = reply.json()
        if len(sent) == 2:
            return sent
    raise AssertionError("every connection went to one worker")


async def assert_each_subscriber_gets(
    subscribers: dict[str, Client], room: uuid.UUID, sent: dict[str, dict[str, Any]]
) -> None:
    for instance in sent:
        c = subscribers[instance]
        frames = [await c.expect("message.created", roomId=str(room)) for _ in sent]
        assert {f["message"]["id"] for f in frames} == {m["id"] for m in sent.values()}


async def subscribed_dm(
    state: AppState, bob: Person, subscribers: dict[str, Client]
) -> tuple[Person, uuid.UUID]:
    ada = await make_person(state, "Ada")
    dm = await make_dm(state, ada, bob)
    for c in subscribers.values():
        await c.subscribe(dm)
    return ada, dm


async def test_a_subscriber_on_one_worker_gets_posts_through_the_other(
    two_workers: str, subscribers: dict[str, Client], bob: Person, state: AppState
) -> None:
    ada, dm = await subscribed_dm(state, bob, subscribers)
    sent = await post_through_each_worker(two_workers, ada, dm)
    await assert_each_subscriber_gets(subscribers, dm, sent)


async def test_across_workers_while_mongodb_is_frozen(
    two_workers: str,
    subscribers: dict[str, Client],
    bob: Person,
    state: AppState,
    stack: DevStack,
) -> None:
    ada, dm = await subscribed_dm(state, bob, subscribers)
    stack.mongo.process.freeze()
    try:
        sent = await post_through_each_worker(two_workers, ada, dm)
        await assert_each_subscriber_gets(subscribers, dm, sent)
    finally:
        ensure_running(stack)
