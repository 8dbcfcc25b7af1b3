"""The web client's router (on a bare app: it needs no database): `/` and
`/status` serve the committed pages with a same-origin Content-Security-Policy,
`/static/` serves only files under static/, and the client's sources neither
build HTML from strings nor name other hosts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import parley.web
from parley.errors import install_error_handlers
from parley.web.router import router

STATIC = Path(parley.web.__file__).parent / "static"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
        yield http


@pytest.mark.parametrize(("path", "marker"), [("/", "Parley</title>"), ("/status", "status")])
async def test_pages_are_served_with_a_strict_policy(
    client: httpx.AsyncClient, path: str, marker: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy


async def test_modules_are_served_as_javascript(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/js/app.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/../router.py", "/static/%2e%2e/router.py", "/static/"]
)
async def test_only_static_files_are_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


def test_the_client_never_builds_html_from_strings() -> None:
    for source in STATIC.rglob("*.js"):
        text = source.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{source.name} uses {sink}"


def test_the_client_loads_nothing_from_elsewhere() -> None:
    namespaces = {"http://www.w3.org/2000/svg"}
    for source in STATIC.rglob("*"):
        if source.is_file():
            text = source.read_text()
            urls = set(re.findall(r"https?://[\w.-]+[^\s'\"`)<>]*", text))
            assert urls <= namespaces, f"{source.name} names {urls - namespaces}"
            assert not re.search(r"[\"'(=]//[\w-]", text), f"{source.name} has a //host URL"
