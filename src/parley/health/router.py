"""`GET /api/health` and `GET /api/metrics`: parse, call `health.service`, render."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from parley.deps import AppStateDep
from parley.health.schemas import HealthReport
from parley.health.service import health_report, metrics_text
from parley.openapi import responses, responses_of_a_plain_route

router = APIRouter(tags=["health"])


# Never shed (parley.shedding): 503 here means both databases are down, with the report.
_HEALTH_RESPONSES = {
    **responses(),
    503: {"description": "Both databases are down", "model": HealthReport},
}


@router.get(
    "/api/health",
    summary="Health of both databases",
    response_model=HealthReport,
    responses=_HEALTH_RESPONSES,
)
async def health(state: AppStateDep) -> JSONResponse:
    replication = state.replication
    body = await health_report(
        state.mongo,
        state.postgres,
        {"mongodb": replication.mongo_breaker, "postgresql": replication.postgres_breaker},
        state.settings.health_deadline,
        [replication.supervisor, state.realtime.supervisor],
        sections={
            "antientropy": state.antientropy.status(),
            "realtime": state.realtime.transport.status(),
        },
    )
    body["instance"] = state.instance_id
    return JSONResponse(body, status_code=503 if body["status"] == "unhealthy" else 200)


# Never shed and no store behind it: no 503.
_METRICS_RESPONSES = {
    status: entry for status, entry in responses_of_a_plain_route().items() if status != 503
}


@router.get(
    "/api/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses=_METRICS_RESPONSES,
)
async def metrics(state: AppStateDep) -> PlainTextResponse:
    text = metrics_text(state.replication)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
