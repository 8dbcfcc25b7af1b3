"""FastAPI builds each included router's routes (their response models among
them) on the first request that reaches the router, on the event loop: about
0.2 s on this machine, while every request in flight waits. A started app has
built them already, so its first requests cost what later ones do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest

from parley.state import AppState
from tests.factories import make_dm, make_person


@pytest.fixture
def fields_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the model fields FastAPI builds from now on."""
    built: list[str] = []
    create = fastapi.routing.create_model_field

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(str(kwargs.get("name", args[0] if args else "?")))
        return create(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "create_model_field", counting)
    yield built


async def test_a_started_app_builds_nothing_on_its_first_requests(
    client: httpx.AsyncClient, state: AppState, fields_built: list[str]
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    url = f"/api/rooms/{room}/messages"

    assert (await client.get("/api/health")).status_code == 200
    sent = await client.post(url, json={"content": "hi", "nonce": "n"}, headers=ada.headers)
    assert sent.status_code == 201, sent.text
    assert (await client.get(url, headers=bob.headers)).status_code == 200
    assert (await client.get("/api/no-such-route")).status_code == 404

    assert fields_built == []
