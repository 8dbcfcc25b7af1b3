"""The rules behind `/api/health`, `/api/metrics` and `parley health`: both
databases probed concurrently under one deadline, what the results mean for the
service as a whole, and which background loops keep failing.

Health answers with short, safe reasons (`timeout`, `unreachable`); the
driver's own error text (addresses, errno, resolver messages) goes to the log
only. A probe counts as one call in that store's breaker window, like any
other (a timeout as a slow call): one failed probe never opens the breaker, so
one slow probe cannot divert every DM to the other store, and while the breaker
is half-open the probes are trial calls that can close it without traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from parley.replication.runtime import Replication
from parley.resilience import CircuitBreaker, Pingable, Supervisor, utc_timestamp
from parley.storage.errors import StorageError, StorageTimeout

log = structlog.get_logger("parley.health")
HealthStatus = Literal["healthy", "degraded", "unhealthy"]


@dataclass(frozen=True)
class Probe:
    up: bool
    latency_ms: float | None
    reason: str | None  # "timeout" | "unreachable"; never the driver's text


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


async def _probe(target: Pingable, deadline: float, breaker: CircuitBreaker) -> Probe:
    try:
        latency = await target.ping(deadline)
    except StorageError as exc:
        reason = "timeout" if isinstance(exc, StorageTimeout) else "unreachable"
        log.warning("health_probe_failed", store=breaker.store, reason=reason, error=str(exc))
        breaker.record_failure(exc)
        return Probe(False, None, reason)
    breaker.record_success(latency / 1000)  # one call among the window, like any other
    return Probe(True, round(latency, 2), None)


async def health_report(
    mongo: Pingable,
    postgres: Pingable,
    breakers: dict[str, CircuitBreaker],
    deadline: float,
    supervisors: Sequence[Supervisor] = (),
    *,
    sections: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `/api/health` body; `status` is `unhealthy` only when both are down.
    `sections` are further parts of `details` (the verifier's last result,
    realtime's listener), under names of their own."""
    mongo_probe, postgres_probe = await asyncio.gather(
        _probe(mongo, deadline, breakers["mongodb"]),
        _probe(postgres, deadline, breakers["postgresql"]),
    )
    probes = {"mongodb": mongo_probe, "postgresql": postgres_probe}
    databases: dict[str, Any] = {name: probe.up for name, probe in probes.items()}
    databases["timestamp"] = utc_timestamp()
    status, message = summarize(databases)
    details: dict[str, Any] = {
        name: {"latencyMs": probe.latency_ms, "error": probe.reason}
        for name, probe in probes.items()
    }
    details["workers"] = {k: v for s in supervisors for k, v in s.failing().items()}
    details.update(sections or {})
    return {"status": status, "databases": databases, "message": message, "details": details}


def metrics_text(replication: Replication) -> str:
    """Prometheus text, with the breaker gauges read at the time of the scrape."""
    for breaker in (replication.mongo_breaker, replication.postgres_breaker):
        replication.metrics.set_gauge(
            f"parley_breaker_open_{breaker.store}", float(breaker.is_open)
        )
    return replication.metrics.render()
