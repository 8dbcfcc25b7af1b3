"""The DM change feed while MongoDB is frozen (SIGSTOP): served from PostgreSQL,
with every change acknowledged during the freeze (sends, edits and deletes of
older messages) after the cursor a client took before it; and right after
MongoDB returns, the same cursor still misses nothing while replay catches up.
(Convergence after the freeze is test_dm_faults.py's subject.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from parley.devstack import DevStack
from parley.state import AppState
from tests.fault.dm_scenario import Scenario

pytestmark = pytest.mark.fault

MAX_PAGES = 100


async def follow(s: Scenario, since: str | None) -> tuple[list[dict[str, Any]], set[str], str]:
    """One pass of Bob's feed of the DM: items, the stores that served it, the cursor."""
    items: list[dict[str, Any]] = []
    sources: set[str] = set()
    params = {"limit": "3", **({"since": since} if since else {})}
    for _ in range(MAX_PAGES):
        response = await s.client.get(
            f"/api/rooms/{s.dm}/changes", params=params, headers=s.bob.headers
        )
        assert response.status_code == 200, response.text
        sources.add(response.headers["X-Data-Source"])
        body = response.json()
        items += body["items"]
        params["since"] = body["cursor"]
        if not body["more"]:
            return items, sources, body["cursor"]
    raise AssertionError(f"the feed did not end within {MAX_PAGES} pages")


def assert_has_every_acknowledged_version(s: Scenario, items: list[dict[str, Any]]) -> None:
    held: dict[str, dict[str, Any]] = {}
    for item in items:  # as a client applies them: newest updatedAt per id
        if item["id"] not in held or item["updatedAt"] >= held[item["id"]]["updatedAt"]:
            held[item["id"]] = item
    for message_id, acked in s.acknowledged.items():
        assert held.get(message_id) == acked, f"acknowledged {message_id} missing or stale"


async def test_change_feed_while_mongodb_is_frozen(
    client: httpx.AsyncClient, state: AppState, stack: DevStack
) -> None:
    s = await Scenario.create(client, state)
    before = [(await s.send_dm(f"before {i}")).json()["id"] for i in range(4)]
    seen, _, cursor = await follow(s, None)
    assert [item["id"] for item in seen] == before

    stack.mongo.process.freeze()
    try:
        for i in range(3):
            response = await s.send_dm(f"during {i}", nonce=f"during-{i}")
            assert response.status_code == 201, response.text
            assert response.headers["X-Data-Source"] == "postgresql"
        assert (await s.edit_dm(before[0], "edited during the freeze")).status_code == 200
        assert (await s.delete_dm(before[1])).status_code == 200

        during, sources, _ = await follow(s, cursor)
        assert sources == {"postgresql"}
        assert_has_every_acknowledged_version(s, seen + during)
        everything, _, _ = await follow(s, None)  # from the beginning, too
        assert_has_every_acknowledged_version(s, everything)
    finally:
        stack.mongo.process.thaw()

    # Right after the thaw, before replay has drained: the cursor taken before
    # the freeze still misses nothing (the conversation is read from both).
    after, _, _ = await follow(s, cursor)
    assert_has_every_acknowledged_version(s, seen + after)
