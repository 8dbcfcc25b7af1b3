"""`GET /api/health`: the overall status plus per-database detail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from parley.deps import AppStateDep
from parley.resilience.health import probe_databases, summarize, utc_timestamp

router = APIRouter(tags=["health"])


@router.get("/api/health", summary="Health of both databases")
async def health(request: Request, state: AppStateDep) -> JSONResponse:
    del request
    results = await probe_databases(state.mongo, state.postgres, state.settings.health_deadline)
    breakers = {
        "mongodb": state.resilience.mongo_breaker,
        "postgresql": state.resilience.postgres_breaker,
    }
    for name, result in results.items():
        # One call among the breaker's window: a single failed probe never opens it.
        if result.up:
            breakers[name].record_success((result.latency_ms or 0.0) / 1000)
        else:
            breakers[name].record_failure(result.error or "health probe failed")
    databases: dict[str, Any] = {name: result.up for name, result in results.items()}
    databases["timestamp"] = utc_timestamp()
    status, message = summarize(databases)
    body = {
        "status": status,
        "databases": databases,
        "message": message,
        "details": {
            name: {"latencyMs": result.latency_ms, "error": result.error}
            for name, result in results.items()
        },
    }
    return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)


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
