"""Wiring of the security layer into the app and into uvicorn, in one place so
`parley.app` and the CLI each need one call."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from parley.auth import passwords
from parley.security.docs import install_docs
from parley.security.headers import SecurityHeaders
from parley.security.limits import Limits, RequestLimits
from parley.security.wsupgrade import BoundedUpgradeProtocol
from parley.settings import Settings


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        max_url_bytes=settings.max_url_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_json_depth=settings.max_json_depth,
    )


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the security middleware (the last added runs first, outermost) and
    the self-hosted docs. Order, outside in: headers on every answer, CORS
    (only with configured origins), then the limits, then the app."""
    app.add_middleware(RequestLimits, limits=limits_from(settings))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,  # bearer tokens, no cookies
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-Data-Source", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)
    install_docs(app)
    passwords.configure_pool(settings.hash_concurrency, settings.hash_queue)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Server-level bounds that apply before the app sees a byte: the largest
    WebSocket message (a UTF-8 character is at most 4 bytes), the largest
    request head h11 buffers, no `Server` banner, and a WebSocket protocol
    that answers an unparseable upgrade (`wsupgrade`)."""
    return {
        "ws_max_size": 4 * settings.ws_max_frame_chars,
        "h11_max_incomplete_event_size": settings.max_header_bytes + settings.max_url_bytes,
        "server_header": False,
        "ws": BoundedUpgradeProtocol,
    }
