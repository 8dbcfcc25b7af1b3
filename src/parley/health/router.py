"""`GET /api/health`: the overall status plus per-database detail."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from parley.deps import AppStateDep
from parley.health.service import health_report

router = APIRouter(tags=["health"])


@router.get("/api/health", summary="Health of both databases")
async def health(state: AppStateDep) -> JSONResponse:
    resilience = state.resilience
    status, body = await health_report(
        state.mongo,
        state.postgres,
        {"mongodb": resilience.mongo_breaker, "postgresql": resilience.postgres_breaker},
        state.settings.health_deadline,
    )
    return JSONResponse(body, status_code=status)


@router.get("/api/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(state: AppStateDep) -> PlainTextResponse:
    resilience = state.resilience
    resilience.metrics.set_gauge(
        "parley_breaker_open_mongodb", float(resilience.mongo_breaker.is_open)
    )
    resilience.metrics.set_gauge(
        "parley_breaker_open_postgresql", float(resilience.postgres_breaker.is_open)
    )
    return PlainTextResponse(resilience.metrics.render(), media_type="text/plain; version=0.0.4")
