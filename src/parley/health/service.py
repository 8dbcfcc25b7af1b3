"""The rules behind `/api/health`, `/api/metrics` and `parley health`: what the
probe results mean for the service as a whole."""

from __future__ import annotations

from typing import Any, Literal

from parley.replication.runtime import Replication
from parley.resilience import Pingable, probe_databases, utc_timestamp

HealthStatus = Literal["healthy", "degraded", "unhealthy"]


def summarize(databases: dict[str, Any]) -> tuple[HealthStatus, str]:
    """The overall status and message for a `check_database_health` result."""
    mongo, postgres = bool(databases["mongodb"]), bool(databases["postgresql"])
    if mongo and postgres:
        return "healthy", "All databases operational"
    if mongo:
        return "degraded", "PostgreSQL is down; direct messages are served from MongoDB"
    if postgres:
        return "degraded", "MongoDB is down; direct messages are served from PostgreSQL"
    return "unhealthy", "MongoDB and PostgreSQL are both down"


async def health_report(
    replication: Replication,
    mongo: Pingable,
    postgres: Pingable,
    deadline: float,
    antientropy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Probe both stores; a store that did not answer has its breaker opened
    (its probe loop closes it again once the store answers). `antientropy` is
    the background verifier's last result, shown in the details."""
    results = await probe_databases(mongo, postgres, deadline)
    breakers = {"mongodb": replication.mongo_breaker, "postgresql": replication.postgres_breaker}
    for name, result in results.items():
        if not result.up:  # logged once as a state change
            breakers[name].trip(result.error or "health probe failed")
    databases: dict[str, Any] = {name: result.up for name, result in results.items()}
    databases["timestamp"] = utc_timestamp()
    status, message = summarize(databases)
    details: dict[str, Any] = {
        name: {"latencyMs": result.latency_ms, "error": result.error}
        for name, result in results.items()
    }
    if antientropy is not None:
        details["antientropy"] = antientropy
    return {"status": status, "databases": databases, "message": message, "details": details}


def metrics_text(replication: Replication) -> str:
    """Prometheus text, with the breaker gauges read at the time of the scrape."""
    for breaker in (replication.mongo_breaker, replication.postgres_breaker):
        replication.metrics.set_gauge(
            f"parley_breaker_open_{breaker.store}", float(breaker.is_open)
        )
    return replication.metrics.render()
