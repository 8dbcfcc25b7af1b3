"""DMs through the API on healthy stores: both stores hold every message with
the same id and fields, and the JSON does not depend on the store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from parley.ids import new_id
from parley.replication.direct_messages import NewDM
from parley.state import AppState
from parley.storage.records import MessageRecord, now_ms
from tests.dm_support import markers_left, mongo_messages, postgres_messages, stores_agree
from tests.factories import Person, make_dm, make_person
from tests.support import eventually


async def ada_and_bob(state: AppState) -> tuple[Person, Person, uuid.UUID]:
    """Two new people and the DM between them."""
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    return ada, bob, await make_dm(state, ada, bob)


async def test_send_list_edit_delete_dm(client: httpx.AsyncClient, state: AppState) -> None:
    ada, bob, room = await ada_and_bob(state)
    url = f"/api/rooms/{room}/messages"

    # With a nonce the answer waits for both stores' verdicts; without one it
    # may go out after one store plus the write grace (0.1 s), which a slow
    # machine's first PostgreSQL write can outlast.
    body = {"content": "  hello  ", "nonce": "first"}
    sent = await client.post(url, json=body, headers=ada.headers)
    assert sent.status_code == 201, sent.text
    assert sent.headers["X-Data-Source"] == "mongodb,postgresql"
    message = sent.json()
    assert message["content"] == "hello"
    assert message["author"] == {"id": str(ada.id), "name": "Ada", "imageUrl": None}
    assert message["roomId"] == str(room)
    assert message["deleted"] is False
    assert message["createdAt"].endswith("Z")

    listed = await client.get(url, headers=bob.headers)
    assert listed.status_code == 200
    assert listed.headers["X-Data-Source"] == "mongodb"
    assert listed.json() == {"items": [message], "nextCursor": None}

    edited = await client.patch(
        f"{url}/{message['id']}", json={"content": "hi"}, headers=ada.headers
    )
    assert edited.status_code == 200
    assert edited.json()["content"] == "hi"
    assert edited.json()["updatedAt"] > message["updatedAt"]

    not_author = await client.patch(
        f"{url}/{message['id']}", json={"content": "x"}, headers=bob.headers
    )
    assert not_author.status_code == 403
    assert not_author.json()["error"] == "Forbidden"

    deleted = await client.delete(f"{url}/{message['id']}", headers=ada.headers)
    assert deleted.status_code == 200
    tomb = deleted.json()
    assert (tomb["deleted"], tomb["content"], tomb["fileUrl"]) == (
        True, "This message has been deleted.", None,
    )  # fmt: skip
    again = await client.patch(f"{url}/{message['id']}", json={"content": "x"}, headers=ada.headers)
    assert again.status_code == 404

    mongo, postgres = await mongo_messages(state, room), await postgres_messages(state, room)
    assert mongo == postgres and len(mongo) == 1

    async def markers_cleared() -> bool:
        return await markers_left(state) == (0, 0)

    await eventually(markers_cleared, timeout=10)
    assert await stores_agree(state, room)


async def test_outsider_gets_404_and_nonce_is_idempotent(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob, eve = [await make_person(state, n) for n in ("Ada", "Bob", "Eve")]
    room = await make_dm(state, ada, bob)
    url = f"/api/rooms/{room}/messages"
    assert (await client.get(url, headers=eve.headers)).status_code == 404
    assert (await client.post(url, json={"content": "x"}, headers=eve.headers)).status_code == 404
    assert (await client.get(url)).status_code == 401

    first = await client.post(url, json={"content": "once", "nonce": "n-1"}, headers=ada.headers)
    second = await client.post(url, json={"content": "twice", "nonce": "n-1"}, headers=ada.headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert len(await mongo_messages(state, room)) == 1
    assert len(await postgres_messages(state, room)) == 1


async def test_a_rename_shows_in_the_next_dm_at_once(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """Author views are cached briefly; renaming yourself is seen by your next send."""
    ada, bob, room = await ada_and_bob(state)
    url = f"/api/rooms/{room}/messages"
    first = await client.post(url, json={"content": "before"}, headers=ada.headers)
    assert first.json()["author"]["name"] == "Ada"

    renamed = await client.patch(
        "/api/profiles/me",
        json={"name": "Ada L.", "imageUrl": "https://example.com/ada.png"},
        headers=ada.headers,
    )
    assert renamed.status_code == 200, renamed.text

    second = await client.post(url, json={"content": "after"}, headers=ada.headers)
    assert second.json()["author"] == {
        "id": str(ada.id), "name": "Ada L.", "imageUrl": "https://example.com/ada.png",
    }  # fmt: skip
    listed = (await client.get(url, headers=bob.headers)).json()["items"]
    assert [m["author"]["name"] for m in listed] == ["Ada L.", "Ada L."]


async def test_two_sends_with_one_nonce_that_reach_the_stores_in_opposite_orders(
    state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each send finds the other's copy in one store; both agree the earlier
    send is the message, and the stores converge on it alone."""
    ada, _, room = await ada_and_bob(state)
    dms = state.replication.direct_messages

    def attempt(content: str) -> MessageRecord:
        now = now_ms()
        return MessageRecord(new_id(), room, ada.id, content, None, False, "same-nonce", now, now)

    earlier, later = attempt("earlier"), attempt("later")
    # MongoDB gets the later send first, PostgreSQL the earlier one.
    for coalescer, held_back in ((dms._mongo_inserts, earlier), (dms._postgres_inserts, later)):
        monkeypatch.setattr(coalescer, "submit", _holding_back(coalescer.submit, held_back))

    first, second = await asyncio.gather(
        dms.send(later, client_nonce=True), dms.send(earlier, client_nonce=True)
    )
    assert first.record.id == second.record.id == earlier.id
    assert (second.created, first.created) == (True, False)
    assert second.stores == ["postgresql"]  # MongoDB held the later copy then

    async def converged() -> bool:
        mongo, postgres = await mongo_messages(state, room), await postgres_messages(state, room)
        return list(mongo) == list(postgres) == [earlier.id] and mongo == postgres

    await eventually(converged, timeout=15)


def _holding_back(
    submit: Callable[[NewDM], Awaitable[Any]], held_back: MessageRecord
) -> Callable[[NewDM], Awaitable[Any]]:
    """`submit` of a store's group commit, holding back one record."""

    async def submit_later(new: NewDM) -> Any:
        if new[0].id == held_back.id:
            await asyncio.sleep(0.1)
        return await submit(new)

    return submit_later


async def test_a_file_dm_is_stored_alike_in_both_stores(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, _, room = await ada_and_bob(state)
    url = f"/api/rooms/{room}/messages"
    sends = [
        {"content": "", "fileUrl": "https://files.example.com/a.png"},
        {"content": "with a caption", "fileUrl": "https://files.example.com/b.pdf"},
        {"content": "no file"},
    ]
    replies = await asyncio.gather(*(client.post(url, json=s, headers=ada.headers) for s in sends))
    assert [r.status_code for r in replies] == [201, 201, 201]
    assert [r.json()["fileUrl"] for r in replies] == [s.get("fileUrl") for s in sends]
    # A send answers once one store has it (plus the write grace): wait for both.
    await eventually(lambda: stores_agree(state, room))
    mongo = await mongo_messages(state, room)
    assert len(mongo) == 3
    assert {m.file_url for m in mongo.values()} == {s.get("fileUrl") for s in sends}
