"""The clients: per person, a few concurrent workers sending DMs (with and
without nonces, retrying some nonces on purpose), editing and deleting their
own messages and reading pages with `before`/`after`, each through a randomly
chosen instance; and one WebSocket subscriber per person. Everything they do
and see goes into the history."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.checker.cluster import Cluster
from bench.checker.history import Clock, Frame, History, Op, Period, Version

REQUEST_TIMEOUT = 5.0
"""A request with no answer by then is `unknown`: it may still happen."""
RECENT = 6
"""Edits and deletes pick among a person's newest messages, so they race."""
# On FerretDB v1 (the local MongoDB role) a version-conditional replace_one is
# not atomic: two concurrent changes to one document can both pass the filter
# and the older can land last (docs/ARCHITECTURE.md, "Working with FerretDB
# locally"). MongoDB applies filter and write atomically, which the version
# order relies on. So against FerretDB, unless asked to race anyway, a person's
# changes (edits and deletes) run one at a time; sends, reads, other people and
# the faults stay concurrent. Against a real mongod they race.


@dataclass
class Workload:
    cluster: Cluster
    history: History
    clock: Clock
    seed: int
    pause: tuple[float, float] = (0.05, 0.25)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # workers stop
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # subscribers stop
    room_of: dict[str, str] = field(default_factory=dict)
    mine: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    pending_nonces: dict[str, list[Op]] = field(default_factory=lambda: defaultdict(list))
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    serialize_changes: bool = False
    changing: dict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    async def __aenter__(self) -> Workload:
        limits = httpx.Limits(max_keepalive_connections=8)
        self.clients = [
            httpx.AsyncClient(base_url=app.url, timeout=REQUEST_TIMEOUT, limits=limits)
            for app in self.cluster.apps
        ]
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in self.clients:
            await client.aclose()

    # -- HTTP operations -------------------------------------------------------------

    async def _call(self, op: Op, method: str, url: str, **kw: Any) -> dict[str, Any] | None:
        person = self.cluster.people[op.person]
        try:
            response = await self.clients[op.instance].request(
                method, url, headers=person.headers, **kw
            )
        except httpx.ConnectError:
            op.outcome, op.status = "fail", "refused"
        except httpx.HTTPError as exc:
            op.outcome, op.status = "unknown", type(exc).__name__
        else:
            op.status = str(response.status_code)
            if response.status_code < 300:
                op.outcome = "ok"
            elif response.status_code < 500:
                op.outcome = "fail"
            else:
                op.outcome = "unknown"
        op.end = self.clock.now()
        return response.json() if op.outcome == "ok" else None

    def _begin(self, kind: str, person: str, room: str, rng: random.Random, **kw: Any) -> Op:
        instance = rng.randrange(len(self.cluster.apps))
        return self.history.begin(kind, person, room, instance, self.clock.now(), **kw)

    async def send(self, person: str, rng: random.Random) -> None:
        room = rng.choice(self.cluster.rooms[person])
        op = self._begin("send", person, room, rng)
        op.content = f"s-{person}-{op.index}"
        if rng.random() < 0.5:
            op.nonce = f"n-{person}-{op.index}"
        await self._write(op, "POST", f"/api/rooms/{room}/messages", _body(op))
        if op.nonce and (op.outcome == "unknown" or rng.random() < 0.2):
            self.pending_nonces[person].append(op)

    async def retry(self, person: str, rng: random.Random) -> None:
        first = self.pending_nonces[person].pop(rng.randrange(len(self.pending_nonces[person])))
        op = self._begin("retry", person, first.room, rng, nonce=first.nonce, content=first.content)
        await self._write(op, "POST", f"/api/rooms/{op.room}/messages", _body(op))

    async def edit(self, person: str, rng: random.Random) -> None:
        async with self._one_change_at_a_time(person):
            await self._edit(person, rng)

    async def delete(self, person: str, rng: random.Random) -> None:
        async with self._one_change_at_a_time(person):
            await self._delete(person, rng)

    def _one_change_at_a_time(self, person: str) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.serialize_changes:
            return self.changing[person]
        return contextlib.nullcontext()

    async def _edit(self, person: str, rng: random.Random) -> None:
        room, message_id = self._pick_own(person, rng)
        op = self._begin("edit", person, room, rng, message_id=message_id)
        op.content = f"e-{person}-{op.index}"
        await self._write(op, "PATCH", f"/api/rooms/{room}/messages/{message_id}", _body(op))

    async def _delete(self, person: str, rng: random.Random) -> None:
        room, message_id = self._pick_own(person, rng)
        op = self._begin("delete", person, room, rng, message_id=message_id)
        await self._write(op, "DELETE", f"/api/rooms/{room}/messages/{message_id}", None)

    async def read(self, person: str, rng: random.Random) -> None:
        room = rng.choice(self.cluster.rooms[person])
        page: dict[str, Any] = {"limit": rng.choice((10, 25, 50))}
        known = self.seen[room]
        if known and rng.random() < 0.6:
            page[rng.choice(("before", "after"))] = rng.choice(known[-40:])
        op = self._begin("read", person, room, rng, page=page)
        body = await self._call(op, "GET", f"/api/rooms/{room}/messages", params=page)
        if body is not None:
            op.items = [_version(item) for item in body["items"]]

    async def _write(self, op: Op, method: str, url: str, body: dict[str, Any] | None) -> None:
        kw = {"json": body} if body is not None else {}
        answer = await self._call(op, method, url, **kw)
        if answer is None:
            return
        op.version = _version(answer)
        if op.kind in ("send", "retry"):
            op.message_id = answer["id"]
            if answer["id"] not in self.mine[op.person]:
                self.mine[op.person].append(answer["id"])
                self.room_of[answer["id"]] = op.room
                self.seen[op.room].append(answer["id"])

    def _pick_own(self, person: str, rng: random.Random) -> tuple[str, str]:
        message_id = rng.choice(self.mine[person][-RECENT:])
        return self.room_of[message_id], message_id

    async def worker(self, person: str, number: int) -> None:
        rng = random.Random(f"{self.seed}-{person}-{number}")
        while not self.stopping.is_set():
            roll = rng.random()
            if roll < 0.08 and self.pending_nonces[person]:
                await self.retry(person, rng)
            elif roll < 0.25 and self.mine[person]:
                await self.edit(person, rng)
            elif roll < 0.32 and self.mine[person]:
                await self.delete(person, rng)
            elif roll < 0.6:
                await self.read(person, rng)
            else:
                await self.send(person, rng)
            await asyncio.sleep(rng.uniform(*self.pause))

    # -- WebSocket subscribers ---------------------------------------------------------

    async def subscriber(self, person: str) -> None:
        rng = random.Random(f"{self.seed}-{person}-ws")
        connection = 0
        while not self.closing.is_set():
            connection += 1
            instance = rng.randrange(len(self.cluster.apps))
            with contextlib.suppress(OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                await self._subscribe(person, connection, instance)
            self._end_periods(person, connection, clean=False)
            await asyncio.sleep(0.2)

    async def _subscribe(self, person: str, connection: int, instance: int) -> None:
        url = self.cluster.apps[instance].url.replace("http", "ws", 1) + "/api/ws"
        token = self.cluster.people[person].token
        async with connect(url, open_timeout=3, close_timeout=1) as ws:
            await ws.send(json.dumps({"op": "auth", "token": token}))
            for room in self.cluster.rooms[person]:
                await ws.send(json.dumps({"op": "subscribe", "roomId": room}))
            reading = asyncio.ensure_future(self._read_frames(ws, person, connection, instance))
            closing = asyncio.ensure_future(self.closing.wait())
            await asyncio.wait({reading, closing}, return_when=asyncio.FIRST_COMPLETED)
            if reading.done():
                closing.cancel()
                reading.result()
                return
            # The run is over and the stores converged: what this connection
            # has not received by now, it missed.
            reading.cancel()
            self._end_periods(person, connection, clean=True)

    async def _read_frames(self, ws: Any, person: str, connection: int, instance: int) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind, room = frame.get("type", ""), frame.get("roomId")
            now = self.clock.now()
            if kind == "ping":
                await ws.send(json.dumps({"op": "pong"}))
            elif kind == "subscribed":
                self.history.periods.append(Period(person, connection, instance, room, now))
            version = _version(frame["message"]) if "message" in frame else None
            self.history.frames.append(Frame(person, connection, now, kind, room, version))

    def _end_periods(self, person: str, connection: int, *, clean: bool) -> None:
        for period in self.history.periods:
            if period.subscriber == person and period.connection == connection and not period.end:
                period.end, period.clean = self.clock.now(), clean


def _body(op: Op) -> dict[str, Any]:
    body: dict[str, Any] = {"content": op.content}
    if op.nonce and op.kind in ("send", "retry"):
        body["nonce"] = op.nonce
    if op.kind == "retry":
        body["retry"] = True  # as a client must, so no retry can get a second id
    return body


def _version(message: dict[str, Any]) -> Version:
    return Version(message["id"], message["content"], message["deleted"], message["updatedAt"])
