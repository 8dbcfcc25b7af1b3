"""Request limits before parsing, auth before body validation, and one status
per kind of client error (issue 15): 413/414/431 from the limits middleware,
400 for a body that is not JSON, 401 before either when a token is needed,
422 for a well-formed body that breaks a rule; always Parley's error shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from parley.auth.tokens import issue_token
from parley.ids import new_id
from parley.state import AppState
from tests.conftest import TEST_SECRET
from tests.factories import make_person
from tests.integration.test_realtime_support import serving

LOGIN = "/api/auth/login"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code
    assert body["detail"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b"x" * (64 * 1024 + 1))
    assert_error(response, 413, "PayloadTooLarge")


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post(LOGIN, content=chunks())
    assert_error(response, 413, "PayloadTooLarge")


async def test_url_over_the_limit_is_414(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/servers?x=" + "a" * 5000)
    assert_error(response, 414, "URITooLong")


async def test_headers_over_the_limit_are_431(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health", headers={"X-Big": "a" * 9000})
    assert_error(response, 431, "HeadersTooLarge")


async def test_deeply_nested_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        LOGIN, content=b"[" * 40 + b"]" * 40, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "BadRequest")


@pytest.mark.parametrize("body", [b"{bad", b"\xff\xfe{}", b'{"email": "a@b.c",'])
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "BadRequest")


@pytest.mark.parametrize("body", [b"{bad", b"\xff\xfe{}", b'{"name": 5}', b"[]"])
async def test_auth_comes_before_the_body(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/api/servers", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 401, "Unauthorized")


async def test_limits_come_before_auth(client: httpx.AsyncClient) -> None:
    """Nothing over a limit is read, not even to find a token in it."""
    response = await client.post(
        "/api/servers", content=b"[" * 100, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "BadRequest")


async def test_with_a_token_malformed_json_is_400_and_invalid_body_422(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state)
    headers = {**ada.headers, "Content-Type": "application/json"}
    response = await client.post("/api/servers", content=b"{bad", headers=headers)
    assert_error(response, 400, "BadRequest")
    response = await client.post("/api/servers", json={"name": ""}, headers=ada.headers)
    assert_error(response, 422, "ValidationError")
    response = await client.post("/api/servers", json=[1], headers=ada.headers)
    assert_error(response, 422, "ValidationError")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_body_declared_as_not_json_is_400_like_malformed_json(
    client: httpx.AsyncClient, state: AppState, content_type: str
) -> None:
    """FastAPI does not parse such a body and used to answer 422 ("Input should
    be a valid dictionary"), as if well-formed JSON had broken a rule."""
    ada = await make_person(state)
    headers = {**ada.headers, "Content-Type": content_type}
    response = await client.post("/api/servers", content=b'{"name": "Lab"}', headers=headers)
    assert_error(response, 400, "BadRequest")
    assert "application/json" in response.json()["detail"]
    anonymous = await client.post(LOGIN, content=b"email=a&password=b", headers=headers)
    assert_error(anonymous, 400, "BadRequest")
    without_token = {"Content-Type": content_type}
    response = await client.post("/api/servers", content=b"name=Lab", headers=without_token)
    assert_error(response, 401, "Unauthorized")  # auth before body


async def test_json_media_types_with_parameters_or_suffixes_are_json(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada = await make_person(state)
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        headers = {**ada.headers, "Content-Type": content_type}
        response = await client.post("/api/servers", content=b'{"name": "Lab"}', headers=headers)
        assert response.status_code == 201, (content_type, response.text)


async def test_every_method_of_a_path_is_in_allow(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/api/servers/{new_id()}")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    response = await client.put("/api/rooms")
    assert response.headers["allow"] == "GET, POST"


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/nothing-here"), 404, "NotFound")
    assert_error(await client.delete("/api/health"), 405, "MethodNotAllowed")


@pytest.fixture
async def base(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


async def test_declared_huge_body_is_refused_before_it_is_sent(base: str) -> None:
    port = int(base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(
        b"POST /api/auth/login HTTP/1.1\r\nHost: parley\r\n"
        b"Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 2)
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert time.monotonic() - started < 1
    writer.close()


async def test_token_for_a_missing_profile_is_401(client: httpx.AsyncClient) -> None:
    ghost = issue_token(new_id(), TEST_SECRET, 60)
    response = await client.post(
        "/api/servers", json={"name": "Lab"}, headers={"Authorization": f"Bearer {ghost}"}
    )
    assert_error(response, 401, "Unauthorized")


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/servers/01a21632-6e8f-7352-afa2-39aa2c77a5a5")
    assert_error(response, 405, "MethodNotAllowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
