"""Hostile WebSocket input (issue 15): every frame is size-checked before it is
parsed, before and after auth; no parse error escapes the handler; a bad frame
after auth never closes the connection; an oversized upgrade is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from parley.app import create_app
from parley.realtime.schemas import CloseCode
from parley.settings import Settings
from parley.state import AppState
from tests.factories import make_person
from tests.integration.test_realtime_support import client, serving, ws_url

DEEP_ARRAY = "[" * 2000
DEEP_OBJECT = '{"a":' * 800  # under the 4,096-character limit
LONE_SURROGATE_ROOM = '{"op": "subscribe", "roomId": "\\ud800"}'
LONE_SURROGATE_TOKEN = '{"op": "auth", "token": "\\udfff"}'


@pytest.fixture
async def base(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


@pytest.mark.parametrize(
    "first", [DEEP_ARRAY, DEEP_OBJECT, LONE_SURROGATE_TOKEN, '{"op": "auth", "token": 5}']
)
async def test_hostile_first_frame_closes_4001(base: str, first: str) -> None:
    async with client(base) as c:
        await c.send(first)
        assert await c.closed_with() == CloseCode.UNAUTHORIZED


async def test_oversized_first_frame_closes_1009_without_parsing(base: str) -> None:
    async with client(base) as c:
        await c.send('{"op": "auth", "token": "' + "a" * 5000 + '"}')
        assert await c.closed_with() == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(
    "frame",
    [
        DEEP_ARRAY,
        DEEP_OBJECT,
        LONE_SURROGATE_ROOM,
        '{"op": "subscribe", "roomId": "\\ud83d"}',
        '{"op": "subscribe", "roomId": "' + "r" * 3000 + '"}',
        '{"op": "subscribe", "roomId": 1e999999}',
        '{"op": "subscribe", "roomId": ' + "9" * 4000 + "}",
        '{"op": "\\ud800"}',
        "NaN",
    ],
)
async def test_hostile_frame_after_auth_answers_bad_request_and_stays_open(
    base: str, state: AppState, frame: str
) -> None:
    ada = await make_person(state)
    async with client(base, ada.token) as c:
        await c.send(frame)
        error = await c.expect("error")
        assert error["error"] == "BadRequest"
        assert len(error.get("roomId", "")) <= 64
        await c.send({"op": "ping"})
        await c.expect("pong")


async def test_huge_query_string_is_refused_quickly(base: str) -> None:
    for size in (5_000, 9_000):
        started = time.monotonic()
        with pytest.raises((InvalidStatus, InvalidHandshake, EOFError, OSError)):
            async with asyncio.timeout(3):
                async with connect(ws_url(base, "token=" + "a" * size), open_timeout=3):
                    pass
        assert time.monotonic() - started < 2.5, size


async def test_query_status_is_414(base: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(ws_url(base, "token=" + "a" * 5_000), open_timeout=3):
            pass
    assert caught.value.response.status_code == 414


@pytest.fixture
async def throttled_base(migrated: Settings, app: FastAPI) -> AsyncIterator[str]:
    del app  # started first: it cleaned the database
    application = create_app(migrated.model_copy(update={"ws_connect_limit_ip": "3/minute"}))
    async with application.router.lifespan_context(application), serving(application) as url:
        yield url


async def test_websocket_connects_per_ip_are_limited(throttled_base: str) -> None:
    for _ in range(3):
        async with connect(ws_url(throttled_base), open_timeout=3):
            pass
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(throttled_base), open_timeout=3):
            pass
    assert refused.value.response.status_code == 429
    assert int(refused.value.response.headers["Retry-After"]) >= 1
