"""`RequestLimits`: a pure ASGI middleware that bounds every request before the
application reads or parses any of it.

    URL (path + query) over `max_url_bytes`     → 414 URITooLong
    headers over `max_header_bytes` in total    → 431 HeadersTooLarge
    body over `max_body_bytes`                  → 413 PayloadTooLarge
      (from Content-Length before reading a byte; otherwise while reading)
    a JSON body nesting over `max_json_depth`   → 400 BadRequest

WebSocket upgrades get the same URL and header checks and are refused with the
same HTTP status before the handshake completes. The body is read here, in
full and bounded, so the application below never sees a partial or oversized
one; it is handed on unchanged. This module knows no routes and no auth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.security.jsondepth import too_deep

log = structlog.get_logger("parley.security")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 * 1024
    max_url_bytes: int = 4096
    max_header_bytes: int = 8192
    max_json_depth: int = 32


class _Refusal(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _refusal_body(refusal: _Refusal) -> bytes:
    return json.dumps({"error": refusal.code, "detail": refusal.detail}).encode()


class RequestLimits:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            self._check_head(scope)
            if scope["type"] == "http":
                receive = await self._bounded_body(scope, receive)
        except _Refusal as refusal:
            log.info("request_refused", status=refusal.status, reason=refusal.code)
            if scope["type"] == "http":
                await _send_http(send, refusal)
            else:
                await _deny_websocket(scope, receive, send, refusal)
            return
        await self.app(scope, receive, send)

    def _check_head(self, scope: Scope) -> None:
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if url_bytes > self.limits.max_url_bytes:
            raise _Refusal(
                414, "URITooLong", f"The URL is longer than {self.limits.max_url_bytes} bytes."
            )
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.limits.max_header_bytes:
            raise _Refusal(
                431,
                "HeadersTooLarge",
                f"The headers are larger than {self.limits.max_header_bytes} bytes.",
            )

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the whole body (at most `max_body_bytes`) and return a `receive`
        that replays it; refuse it if it is too large or too deeply nested."""
        limit = self.limits.max_body_bytes
        too_large = _Refusal(413, "PayloadTooLarge", f"The body is larger than {limit} bytes.")
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise _Refusal(400, "BadRequest", "Content-Length is malformed.") from None
                if declared > limit:
                    raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return _replay([message], receive)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # Checked whatever the Content-Type: FastAPI parses a body without one as JSON.
        if body and self._too_deep(body):
            raise _Refusal(
                400,
                "BadRequest",
                f"The JSON body nests deeper than {self.limits.max_json_depth} levels.",
            )
        return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)

    def _too_deep(self, body: bytes) -> bool:
        text = body.decode("utf-8", "replace")
        return too_deep(text, self.limits.max_json_depth)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _send_http(send: Send, refusal: _Refusal) -> None:
    body = _refusal_body(refusal)
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _deny_websocket(scope: Scope, receive: Receive, send: Send, refusal: _Refusal) -> None:
    """Refuse the upgrade with the HTTP status where the server supports the
    denial-response extension (uvicorn does), else with a plain 403."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = _refusal_body(refusal)
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refusal.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
