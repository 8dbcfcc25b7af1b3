"""Property: after any interleaving of sends and deletes, paging a room
newest-first with `before` and oldest-first with `after` returns every message
exactly once, in order, tombstones included — in every room kind, and for DMs
whichever store serves the read."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.state import AppState
from tests.factories import Person, make_dm, make_group, make_person, make_server

ZERO = str(uuid.UUID(int=0))
MAX_PAGES = 1000

operations = st.lists(
    st.one_of(st.just(("send", 0)), st.tuples(st.just("delete"), st.integers(0, 30))),
    min_size=1,
    max_size=25,
)


async def _walk(
    client: httpx.AsyncClient, url: str, person: Person, limit: int, direction: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = ZERO if direction == "after" else None
    for _ in range(MAX_PAGES):
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params[direction] = cursor
        response = await client.get(url, params=params, headers=person.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        if page["nextCursor"] is None:
            return items
        assert page["nextCursor"] == page["items"][-1]["id"]
        cursor = page["nextCursor"]
    raise AssertionError(f"paging did not end within {MAX_PAGES} pages")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=operations,
    limit=st.integers(1, 6),
    room_kind=st.sampled_from(["dm", "dm-via-postgresql", "channel", "group"]),
)
async def test_paging_returns_each_message_once_in_order(
    client: httpx.AsyncClient,
    state: AppState,
    ops: list[tuple[str, int]],
    limit: int,
    room_kind: str,
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    if room_kind.startswith("dm"):
        room = await make_dm(state, ada, bob)
    elif room_kind == "channel":
        room = (await make_server(state, ada, {bob: "GUEST"}))[1]
    else:
        room = await make_group(state, ada, [bob])
    url = f"/api/rooms/{room}/messages"
    sent: list[str] = []
    deleted: set[str] = set()
    for op, index in ops:
        if op == "send" or not sent:
            response = await client.post(
                url, json={"content": f"m{len(sent)}"}, headers=ada.headers
            )
            assert response.status_code == 201
            sent.append(response.json()["id"])
        else:
            target = sent[index % len(sent)]
            response = await client.delete(f"{url}/{target}", headers=ada.headers)
            assert response.status_code == (404 if target in deleted else 200)
            deleted.add(target)

    breaker = state.replication.mongo_breaker
    if room_kind == "dm-via-postgresql":
        breaker.trip("property test reads from the fallback")
    try:
        newest_first = await _walk(client, url, bob, limit, "before")
        oldest_first = await _walk(client, url, bob, limit, "after")
    finally:
        if room_kind == "dm-via-postgresql":
            await breaker.recover()

    assert [m["id"] for m in newest_first] == sent[::-1]
    assert [m["id"] for m in oldest_first] == sent
    assert {m["id"] for m in newest_first if m["deleted"]} == deleted
    assert all(
        m["content"] == "This message has been deleted." for m in newest_first if m["deleted"]
    )
