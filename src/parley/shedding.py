"""`LoadShedding`: when this instance is saturated, answer at once.

A pure ASGI middleware that bounds the API requests one process works on at a
time (`PARLEY_MAX_IN_FLIGHT`). One over the bound is answered right away with
503 `Overloaded` and `Retry-After: 1`, before its body is read: queued behind
hundreds of others it would only blow its database deadlines and make a busy
instance look like a failing store (breakers opening, DMs falling back).
Health, metrics, static files and WebSockets are never shed: an operator must
be able to see an overloaded instance, and a socket's cost is not per request.
"""

from __future__ import annotations

import json

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger("parley.shedding")

NEVER_SHED = ("/api/health", "/api/metrics")
BODY = json.dumps(
    {"error": "Overloaded", "detail": "This server is busy; try again in a second."}
).encode()
# One log line per this many shed requests, not one per request.
LOG_EVERY = 1000


class LoadShedding:
    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.shed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._sheddable(scope):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    @staticmethod
    def _sheddable(scope: Scope) -> bool:
        path: str = scope.get("path", "")
        return scope["type"] == "http" and path.startswith("/api/") and path not in NEVER_SHED

    async def _refuse(self, send: Send) -> None:
        self.shed += 1
        if self.shed % LOG_EVERY == 1:
            log.warning("requests_shed", total=self.shed, in_flight=self.in_flight)
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"content-length", str(len(BODY)).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})
