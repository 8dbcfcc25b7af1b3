"""Load shedding: over the bound an API request is answered 503 at once, and
health, metrics and WebSockets are never shed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from parley.shedding import LoadShedding


class Blocking:
    """An app whose requests wait until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.started += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(app: Any, path: str, kind: str = "http") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": kind, "path": path}, receive, send)
    return sent


async def test_over_the_bound_is_answered_503_at_once() -> None:
    inner = Blocking()
    app = LoadShedding(inner, max_in_flight=2)
    busy = [asyncio.create_task(call(app, "/api/rooms")) for _ in range(2)]
    while inner.started < 2:
        await asyncio.sleep(0)
    refused = await asyncio.wait_for(call(app, "/api/rooms/x/messages"), 1)
    assert refused[0]["status"] == 503
    assert (b"retry-after", b"1") in refused[0]["headers"]
    assert json.loads(refused[1]["body"])["error"] == "Overloaded"
    inner.release.set()
    assert [r[0]["status"] for r in await asyncio.gather(*busy)] == [200, 200]
    assert app.in_flight == 0


async def test_health_metrics_websockets_and_pages_are_never_shed() -> None:
    inner = Blocking()
    inner.release.set()
    app = LoadShedding(inner, max_in_flight=1)
    app.in_flight = 1  # saturated
    for path, kind in [("/api/health", "http"), ("/api/metrics", "http"), ("/", "http")]:
        assert (await call(app, path, kind))[0]["status"] == 200
    assert await call(app, "/api/ws", "websocket") is not None
    assert inner.started == 4
