"""Reads never hide what PostgreSQL missed (issue 12, hole 4).

A DM acknowledged by MongoDB alone while PostgreSQL was down waits in
MongoDB's replay queue. Until it is replayed, a read that would be answered
from PostgreSQL (MongoDB slow or frozen, a hedge) must merge MongoDB's answer
or fail with 503: never return PostgreSQL's page without it. The instance
learns this from MongoDB's queue, as every other instance does."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from parley.devstack import DevStack
from parley.replication.backlog import Backlog
from parley.state import AppState
from tests.factories import make_dm, make_person
from tests.support import ensure_running, eventually

pytestmark = pytest.mark.fault


@dataclass
class Missed:
    """A DM acknowledged by MongoDB alone, PostgreSQL back up and behind."""

    url: str
    headers: dict[str, str]
    message_id: str


async def missed_by_postgres(client: httpx.AsyncClient, state: AppState, stack: DevStack) -> Missed:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    url = f"/api/rooms/{dm}/messages"
    assert (await client.post(url, json={"content": "first"}, headers=ada.headers)).is_success
    # No replay from here on: PostgreSQL stays behind for as long as the test needs.
    await state.replication.supervisor.stop()

    stack.postgres.process.kill()
    sent = await client.post(url, json={"content": "while PG was down"}, headers=ada.headers)
    assert sent.status_code == 201
    ensure_running(stack)

    async def postgres_answers() -> bool:
        return (await client.get(f"/api/rooms/{dm}", headers=ada.headers)).is_success

    await eventually(postgres_answers, timeout=20)
    return Missed(url, ada.headers, sent.json()["id"])


def use_backlog(state: AppState, backlog: Backlog) -> None:
    state.replication.direct_messages.backlog = backlog
    state.replication.replay.backlog = backlog


async def assert_reads_with_mongo_frozen_include(
    client: httpx.AsyncClient, stack: DevStack, missed: Missed
) -> None:
    stack.mongo.process.freeze()
    try:
        for _ in range(5):
            page = await client.get(missed.url, headers=missed.headers)
            assert page.status_code in (200, 503), page.text
            if page.status_code == 200:
                ids = [m["id"] for m in page.json()["items"]]
                assert missed.message_id in ids, "a read answered without a DM PostgreSQL lacks"
    finally:
        stack.mongo.process.thaw()


async def test_a_read_while_postgres_is_behind_never_hides_the_message(
    client: httpx.AsyncClient, state: AppState, stack: DevStack
) -> None:
    missed = await missed_by_postgres(client, state, stack)
    # What another instance knows: only what the replay queues say.
    use_backlog(state, Backlog())
    await state.replication.replay.refresh_backlog()
    await assert_reads_with_mongo_frozen_include(client, stack, missed)


async def test_a_stale_view_of_the_backlogs_never_answers_from_one_store(
    client: httpx.AsyncClient, state: AppState, stack: DevStack
) -> None:
    """An instance that knows nothing reliable of the backlogs (thawed after a
    freeze) counts both stores as behind; a read then needs both answers.
    Before, with MongoDB too slow to answer, such a read returned PostgreSQL's
    page alone, without a DM PostgreSQL had missed (as a read in the second
    30-minute chaos run did)."""
    missed = await missed_by_postgres(client, state, stack)
    use_backlog(state, Backlog(max_age=0.0))  # every view is stale: both stores behind
    await assert_reads_with_mongo_frozen_include(client, stack, missed)
