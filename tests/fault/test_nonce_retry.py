"""A send reached one store only, and that store is unreachable when the
client retries (the double fault in ARCHITECTURE.md, "Failure modes"). A
retry that says so (`"retry": true`) is answered only when both stores can be
asked: 503 while one cannot, then the original. It never gets a second id."""

from __future__ import annotations

import httpx
import pytest

from parley.devstack import DevStack
from parley.state import AppState
from tests.factories import make_dm, make_person
from tests.support import ensure_running, eventually

pytestmark = pytest.mark.fault


async def test_a_flagged_retry_never_gets_a_second_id(
    client: httpx.AsyncClient, state: AppState, stack: DevStack
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    url = f"/api/rooms/{dm}/messages"
    body = {"content": "only in MongoDB", "nonce": "n-1"}
    assert (await client.post(url, json={"content": "warm"}, headers=ada.headers)).is_success
    await state.replication.supervisor.stop()  # no replay: PostgreSQL stays without it

    stack.postgres.process.kill()
    first = await client.post(url, json=body, headers=ada.headers)
    assert first.status_code == 201, first.text
    ensure_running(stack)

    async def postgres_back() -> bool:
        return (await client.get(f"/api/rooms/{dm}", headers=ada.headers)).is_success

    await eventually(postgres_back, timeout=20)
    stack.mongo.process.freeze()
    try:
        retried = await client.post(url, json={**body, "retry": True}, headers=ada.headers)
        assert retried.status_code == 503, retried.text
        assert retried.json()["error"] == "StorageUnavailable"
    finally:
        stack.mongo.process.thaw()

    async def answered_with_the_original() -> bool:
        again = await client.post(url, json={**body, "retry": True}, headers=ada.headers)
        return again.status_code == 200 and again.json()["id"] == first.json()["id"]

    await eventually(answered_with_the_original, timeout=20)
