"""The ASGI application: `create_app(settings)` builds the FastAPI app whose
lifespan creates the engines, clients and background workers and closes them.

Databases may be down at startup: engines connect lazily, so the app starts,
serves `/api/health`, and recovers by itself when the databases return.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response

from parley.auth.router import router as auth_router
from parley.community.router import router as community_router
from parley.errors import install_error_handlers
from parley.health.router import router as health_router
from parley.messages.hooks import install_message_hooks
from parley.messages.router import router as messages_router
from parley.realtime.lifecycle import start_realtime, stop_realtime
from parley.realtime.router import router as realtime_router
from parley.resilience.runtime import Resilience
from parley.rooms.router import router as rooms_router
from parley.security.setup import install_security
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase

log = structlog.get_logger("parley.http")


def build_state(settings: Settings) -> AppState:
    postgres = PostgresDatabase.from_settings(settings)
    mongo = MongoDatabase.from_settings(settings)
    return AppState(
        settings=settings,
        postgres=postgres,
        mongo=mongo,
        resilience=Resilience(settings, mongo, postgres),
    )


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.parley = state
        await state.resilience.start()
        install_message_hooks(state)
        await start_realtime(state)
        log.info("startup", mongo_database=settings.mongo_database)
        try:
            yield
        finally:
            await stop_realtime(state)
            await state.resilience.stop()
            await state.mongo.close()
            await state.postgres.dispose()
            log.info("shutdown")

    # /docs is served without a CDN by parley.security.docs; no /redoc.
    app = FastAPI(title="Parley", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.middleware("http")(_log_request)
    install_security(app, settings)
    for router in (
        health_router,
        auth_router,
        community_router,
        rooms_router,
        messages_router,
        realtime_router,
    ):
        app.include_router(router)
    return app


async def _log_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    log.info(
        "request",
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response
