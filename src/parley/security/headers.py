"""`SecurityHeaders`: a pure ASGI middleware adding the response headers every
answer carries (an answer that already sets one keeps its own):

    X-Content-Type-Options: nosniff     no browser guesses a JSON body is HTML
    Referrer-Policy: no-referrer        no URL (with ids in it) leaks onwards
    X-Frame-Options: DENY               nothing of Parley's is framed
    Cache-Control: no-store             on everything under /api: answers are
                                        per caller, and no proxy or browser
                                        cache should keep them

WebSocket frames carry no headers; the handshake is left alone.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
_API = (("cache-control", "no-store"),)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALWAYS + (_API if scope["path"].startswith("/api/") else ())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
