"""The raw baseline for `bench/http.py`: the floor cost of a DM send and a
history page on this stack.

A minimal ASGI app (Starlette routing, nothing else) with Parley's own drivers
and pools (`PostgresDatabase`, `MongoDatabase` built from the same settings):

    POST /send   one INSERT into PostgreSQL's direct_messages and one
                 insert_one into MongoDB's direct_messages, concurrently
    GET  /page   one history page (50 + 1) from MongoDB

No auth, no access check, no validation, no resilience layer, no rendering.
Served by uvicorn like Parley: `uvicorn --factory bench.baseline_app:create`.
Sends go to BASELINE_ROOM as BASELINE_AUTHOR; pages come from BASELINE_READ_ROOM.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.ids import new_id
from parley.settings import load_settings
from parley.storage.mongo.database import MongoDatabase
from parley.storage.mongo.direct_messages import to_document
from parley.storage.mongo.schema import DIRECT_MESSAGES, key
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.messages import DIRECT_MESSAGES as PG_DMS
from parley.storage.records import MessageRecord, now_ms


def create() -> Starlette:
    settings = load_settings()
    postgres = PostgresDatabase.from_settings(settings)
    mongo = MongoDatabase.from_settings(settings)
    room = uuid.UUID(os.environ["BASELINE_ROOM"])
    author = uuid.UUID(os.environ["BASELINE_AUTHOR"])
    read_room = key(uuid.UUID(os.environ["BASELINE_READ_ROOM"]))
    collection = mongo.db[DIRECT_MESSAGES]

    async def send(request: Request) -> Response:
        await request.body()
        message_id, now = new_id(), now_ms()
        record = MessageRecord(
            message_id, room, author, "bench", None, False, str(message_id), now, now
        )

        async def to_postgres() -> None:
            async with postgres.engine.begin() as conn:
                await conn.execute(insert(PG_DMS.table).values(PG_DMS.values(record)))

        await asyncio.gather(to_postgres(), collection.insert_one(to_document(record)))
        return Response(b'{"ok":true}', status_code=201, media_type="application/json")

    async def page(request: Request) -> Response:
        cursor = collection.find({"conversationId": read_room}).sort("_id", -1).limit(51)
        ids = [doc["_id"] async for doc in cursor.batch_size(51)]
        return Response(json.dumps(ids), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await mongo.close()
        await postgres.dispose()

    routes = [Route("/send", send, methods=["POST"]), Route("/page", page, methods=["GET"])]
    return Starlette(routes=routes, lifespan=lifespan)
