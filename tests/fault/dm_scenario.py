"""A DM conversation plus a channel and a group, exercised through the API
before, during and after a database fault, with a ledger of what the API
acknowledged so the test can check that nothing was lost, duplicated or hidden."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from parley.state import AppState
from tests.dm_support import markers_left, mongo_messages, postgres_messages
from tests.factories import Person, make_dm, make_group, make_person, make_server
from tests.support import eventually

MAX_PAGES = 1000


@dataclass
class Scenario:
    client: httpx.AsyncClient
    state: AppState
    ada: Person
    bob: Person
    dm: uuid.UUID
    channel: uuid.UUID
    group: uuid.UUID
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @classmethod
    async def create(cls, client: httpx.AsyncClient, state: AppState) -> Scenario:
        ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
        dm = await make_dm(state, ada, bob)
        _, channel = await make_server(state, ada, {bob: "GUEST"})
        group = await make_group(state, ada, [bob])
        scenario = cls(client, state, ada, bob, dm, channel, group)
        await scenario.wait_until_settled()  # the MongoDB mirror is in place
        return scenario

    def url(self, room: uuid.UUID) -> str:
        return f"/api/rooms/{room}/messages"

    async def send_dm(self, content: str, nonce: str | None = None) -> httpx.Response:
        body = {"content": content, **({"nonce": nonce} if nonce else {})}
        response = await self.client.post(self.url(self.dm), json=body, headers=self.ada.headers)
        if response.status_code in (200, 201):
            self.acknowledged[response.json()["id"]] = response.json()
            self.sources.append(response.headers["X-Data-Source"])
        return response

    async def edit_dm(self, message_id: str, content: str) -> httpx.Response:
        response = await self.client.patch(
            f"{self.url(self.dm)}/{message_id}", json={"content": content}, headers=self.ada.headers
        )
        if response.status_code == 200:
            self.acknowledged[message_id] = response.json()
        return response

    async def delete_dm(self, message_id: str) -> httpx.Response:
        response = await self.client.delete(
            f"{self.url(self.dm)}/{message_id}", headers=self.ada.headers
        )
        if response.status_code == 200:
            self.acknowledged[message_id] = response.json()
        return response

    async def read_all_dms(
        self, reader: Person | None = None
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """Page through the whole DM history newest-first; returns items and sources."""
        items: list[dict[str, Any]] = []
        sources: set[str] = set()
        cursor: str | None = None
        headers = (reader or self.bob).headers
        for _ in range(MAX_PAGES):
            params = {"limit": "7", **({"before": cursor} if cursor else {})}
            response = await self.client.get(self.url(self.dm), params=params, headers=headers)
            assert response.status_code == 200, response.text
            sources.add(response.headers["X-Data-Source"])
            page = response.json()
            items.extend(page["items"])
            cursor = page["nextCursor"]
            if cursor is None:
                return items, sources
        raise AssertionError(f"paging did not end within {MAX_PAGES} pages")

    async def assert_reads_show_everything_acknowledged(self) -> set[str]:
        items, sources = await self.read_all_dms()
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)), "a message was returned twice"
        assert ids == sorted(ids, reverse=True), "not newest first"
        by_id = {item["id"]: item for item in items}
        for message_id, acked in self.acknowledged.items():
            assert by_id.get(message_id) == acked, f"acknowledged {message_id} hidden or stale"
        return sources

    async def wait_until_settled(self, timeout: float = 20) -> None:
        async def settled() -> bool:
            return await markers_left(self.state) == (0, 0)

        await eventually(settled, timeout=timeout, interval=0.1)

    async def assert_converged(self) -> None:
        """Both stores hold exactly the acknowledged messages, field for field."""
        await self.wait_until_settled()
        mongo = await mongo_messages(self.state, self.dm)
        postgres = await postgres_messages(self.state, self.dm)
        assert mongo == postgres
        assert {str(i) for i in mongo} == set(self.acknowledged)
        for message_id, record in mongo.items():
            acked = self.acknowledged[str(message_id)]
            assert (record.content, record.deleted, record.file_url) == (
                acked["content"], acked["deleted"], acked["fileUrl"],
            )  # fmt: skip

    async def post_room(self, room: uuid.UUID, content: str) -> httpx.Response:
        return await self.client.post(
            self.url(room), json={"content": content}, headers=self.bob.headers
        )
