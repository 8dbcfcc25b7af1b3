"""The ASGI application: `create_app(settings)` builds the FastAPI app whose
lifespan creates the engines, clients and background workers and closes them.

Databases may be down at startup: engines connect lazily, so the app starts,
serves `/api/health`, and recovers by itself when the databases return.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response

from parley.auth.router import router as auth_router
from parley.community.router import router as community_router
from parley.errors import install_error_handlers
from parley.health.router import router as health_router
from parley.logging import configure_logging
from parley.messages.router import router as messages_router
from parley.messages.service import MessageLoader
from parley.realtime.lifecycle import Realtime
from parley.realtime.router import router as realtime_router
from parley.replication.runtime import Replication
from parley.resilience import Metrics
from parley.rooms.access import RoomAccessPolicy
from parley.rooms.router import router as rooms_router
from parley.settings import Settings, load_settings
from parley.state import AppState
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase
from parley.web.router import router as web_router

log = structlog.get_logger("parley.http")


def build_state(settings: Settings) -> AppState:
    """Every per-process object, wired; nothing connects or starts yet."""
    metrics = Metrics()
    postgres = PostgresDatabase.from_settings(settings, metrics)
    mongo = MongoDatabase.from_settings(settings, metrics)
    replication = Replication(settings, mongo, postgres, metrics)
    access = RoomAccessPolicy(replication.postgres, replication.directory)
    instance_id = secrets.token_hex(8)
    realtime = Realtime.build(settings, access, MessageLoader(replication), instance_id)
    return AppState(
        instance_id=instance_id,
        settings=settings,
        postgres=postgres,
        mongo=mongo,
        replication=replication,
        antientropy=replication.antientropy(instance_id),
        access=access,
        realtime=realtime,
        events=realtime.service,
    )


def app_from_environment() -> FastAPI:
    """The app of one `parley serve --workers N` process: settings from the
    environment (the supervisor validated them before starting workers)."""
    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(settings)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.parley = state
        await state.replication.start()
        await state.realtime.start()
        if settings.antientropy_enabled:
            await state.antientropy.start()
        log.info("startup", mongo_database=settings.mongo_database)
        try:
            yield
        finally:
            await state.antientropy.stop()
            await state.realtime.stop()
            await state.replication.stop()
            await state.mongo.close()
            await state.postgres.dispose()
            log.info("shutdown")

    app = FastAPI(title="Parley", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.middleware("http")(_log_request)
    for router in (
        health_router,
        auth_router,
        community_router,
        rooms_router,
        messages_router,
        realtime_router,
        web_router,
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
