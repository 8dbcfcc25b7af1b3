"""`GET /api/health` and `GET /api/metrics`: parse, call `health.service`, render."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from parley.deps import AppStateDep
from parley.health.service import health_report, metrics_text

router = APIRouter(tags=["health"])


@router.get("/api/health", summary="Health of both databases")
async def health(state: AppStateDep) -> JSONResponse:
    replication = state.replication
    body = await health_report(
        state.mongo,
        state.postgres,
        {"mongodb": replication.mongo_breaker, "postgresql": replication.postgres_breaker},
        state.settings.health_deadline,
        [replication.supervisor, state.realtime.supervisor],
        state.antientropy.status(),
    )
    body["instance"] = state.instance_id
    return JSONResponse(body, status_code=503 if body["status"] == "unhealthy" else 200)


@router.get("/api/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(state: AppStateDep) -> PlainTextResponse:
    text = metrics_text(state.replication)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
