"""The ASGI application: `create_app(settings)` builds the FastAPI app whose
lifespan creates the engines, clients and background workers and closes them.

Databases may be down at startup: engines connect lazily, so the app starts,
serves `/api/health`, and recovers by itself when the databases return.
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.routing import NoMatchFound

from parley.auth.router import router as auth_router
from parley.community.router import router as community_router
from parley.errors import install_error_handlers
from parley.health.router import router as health_router
from parley.logging import configure_logging
from parley.loopwatch import LoopWatch
from parley.messages.router import changes_router
from parley.messages.router import router as messages_router
from parley.messages.service import MessageLoader
from parley.openapi import install_openapi, operation_id
from parley.realtime.lifecycle import Realtime
from parley.realtime.router import router as realtime_router
from parley.replication.runtime import Replication
from parley.requestlog import RequestLog
from parley.resilience import Metrics
from parley.rooms.access import RoomAccessPolicy
from parley.rooms.router import router as rooms_router
from parley.security.ratelimit import RateLimiter
from parley.security.sessions import RevocationList
from parley.security.setup import install_security
from parley.security.throttle import Throttle
from parley.settings import Settings, load_settings
from parley.shedding import LoadShedding
from parley.state import AppState
from parley.storage.deadline import within_deadline
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.rate_limits import PostgresRateWindows
from parley.web.router import router as web_router

log = structlog.get_logger("parley.http")
# The app's own share of a shutdown; uvicorn and the dev stack take the rest.
SHUTDOWN_SECONDS = 2.0


def build_state(settings: Settings) -> AppState:
    """Every per-process object, wired; nothing connects or starts yet."""
    metrics = Metrics()
    postgres = PostgresDatabase.from_settings(settings, metrics)
    mongo = MongoDatabase.from_settings(settings, metrics)
    replication = Replication(settings, mongo, postgres, metrics)
    access = RoomAccessPolicy(
        replication.postgres, replication.directory, hedge_after=settings.hedge_delay
    )
    instance_id = secrets.token_hex(8)
    messages = MessageLoader(replication)
    realtime = Realtime.build(settings, access, messages, instance_id, metrics)
    rate_windows = PostgresRateWindows.from_settings(settings, metrics)
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
        revocations=RevocationList(),
        rate_windows=rate_windows,
        throttle=Throttle(
            settings,
            RateLimiter(rate_windows, metrics, stall=replication.postgres_breaker.stall),
        ),
    )


def app_from_environment() -> FastAPI:
    """The app of one `parley serve --workers N` process: settings from the
    environment (the supervisor validated them before starting workers)."""
    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json, settings=settings)
    return create_app(settings)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.parley = state
        warming = asyncio.ensure_future(_warm_up(state))
        await state.replication.start()
        await state.realtime.start()
        if settings.antientropy_enabled:
            await state.antientropy.start()
        log.info("startup", mongo_database=settings.mongo_database)
        _build_routes(app)
        _freeze_startup_objects()
        try:
            async with (
                LoopWatch(state.replication.metrics).watching(),
                state.revocations.polling(state.postgres, settings.revocation_poll_interval),
                state.throttle.limiter.pruning(),
            ):
                yield
        finally:
            warming.cancel()
            await _shut_down(state)
            gc.unfreeze()  # what the app held may be garbage now (tests start many apps)
            log.info("shutdown")

    # /docs is served without a CDN by parley.security.docs; no /redoc.
    app = FastAPI(
        title="Parley",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(RequestLog)
    app.add_middleware(LoadShedding, max_in_flight=settings.max_in_flight)
    install_security(app, settings)
    for router in (
        health_router,
        auth_router,
        community_router,
        rooms_router,
        messages_router,
        changes_router,
        realtime_router,
        web_router,
    ):
        app.include_router(router)
    return app


# A route name no route has: looking it up visits every route.
_NO_SUCH_ROUTE = "parley-no-such-route"


def _build_routes(app: FastAPI) -> None:
    """Have FastAPI build its included routers' routes now. It builds them on
    the first request that reaches each router, response models and all (310
    model fields), which held the event loop for about 0.2 s while every
    request in flight waited. Resolving a name no route has visits them all."""
    with suppress(NoMatchFound):
        app.url_path_for(_NO_SUCH_ROUTE)


def _freeze_startup_objects() -> None:
    """Keep what exists once the app has started (modules, routes, models,
    clients: hundreds of thousands of objects that live as long as the
    process) out of the garbage collector's full passes, which otherwise walk
    all of them while the event loop waits. A 0.21 s full collection held the
    loop during a failover run with PostgreSQL frozen, and 39 sends missed
    their deadline on MongoDB with it (BENCHMARKS.md "Failover"). No
    collection first: it would cost a full pass at every start, and garbage
    frozen with the rest is freed after `gc.unfreeze` at shutdown."""
    gc.freeze()


# How long the start-up warm-up waits for each connection it opens.
WARM_UP_SECONDS = 2.0


async def _warm_up(state: AppState) -> None:
    """Open the PostgreSQL pools' connections while the instance starts
    (PyMongo fills MongoDB's itself: `minPoolSize`). A restarted instance
    meeting a burst would otherwise spend its requests' deadlines on
    connecting and answer 503 with both stores up, and a pool that grows under
    load opens connections in the middle of it. It runs beside the startup,
    not before it: a frozen store must not delay the start (nor a Ctrl-C
    during it)."""
    await asyncio.gather(state.postgres.fill_pool(WARM_UP_SECONDS), state.rate_windows.fill_pool())


async def _shut_down(state: AppState) -> None:
    """Close everything, each step within what is left of `SHUTDOWN_SECONDS`: a
    frozen or wedged store must not hold the process (Ctrl-C ends it within 5 s)."""
    steps: list[Callable[[], Coroutine[Any, Any, None]]] = [
        state.antientropy.stop,
        state.realtime.stop,
        state.replication.stop,
        state.mongo.close,
        state.postgres.dispose,
        state.rate_windows.dispose,
    ]
    ends = time.monotonic() + SHUTDOWN_SECONDS
    for step in steps:
        try:
            await within_deadline(step(), max(ends - time.monotonic(), 0.05))
        except Exception as exc:
            log.warning("shutdown_step_abandoned", step=step.__qualname__, error=repr(exc))
