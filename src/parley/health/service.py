"""The health report: both databases probed concurrently under one deadline,
answered with short, safe reasons (`timeout`, `unreachable`); the driver's own
error text (addresses, errno, resolver messages) goes to the log only.

A failed probe counts as one failure on that store's breaker, like a failed
call; it does not open the breaker by itself, so one slow probe cannot divert
every DM to the other store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from parley.resilience.health import summarize, utc_timestamp
from parley.storage.errors import StorageError, StorageTimeout

log = structlog.get_logger("parley.health")


class Pingable(Protocol):
    async def ping(self, deadline: float) -> float: ...


class FailureCounter(Protocol):
    def record_failure(self, error: BaseException) -> None: ...


@dataclass(frozen=True)
class Probe:
    up: bool
    latency_ms: float | None
    reason: str | None  # "timeout" | "unreachable"; never the driver's text


async def _probe(store: str, target: Pingable, deadline: float, breaker: FailureCounter) -> Probe:
    try:
        latency = await target.ping(deadline)
    except StorageError as exc:
        reason = "timeout" if isinstance(exc, StorageTimeout) else "unreachable"
        log.warning("health_probe_failed", store=store, reason=reason, error=str(exc))
        breaker.record_failure(exc)
        return Probe(False, None, reason)
    return Probe(True, round(latency, 2), None)


async def health_report(
    mongo: Pingable,
    postgres: Pingable,
    breakers: dict[str, FailureCounter],
    deadline: float,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 only when both databases are down."""
    mongo_probe, postgres_probe = await asyncio.gather(
        _probe("mongodb", mongo, deadline, breakers["mongodb"]),
        _probe("postgresql", postgres, deadline, breakers["postgresql"]),
    )
    probes = {"mongodb": mongo_probe, "postgresql": postgres_probe}
    databases: dict[str, Any] = {name: probe.up for name, probe in probes.items()}
    databases["timestamp"] = utc_timestamp()
    status, message = summarize(databases)
    body = {
        "status": status,
        "databases": databases,
        "message": message,
        "details": {
            name: {"latencyMs": probe.latency_ms, "error": probe.reason}
            for name, probe in probes.items()
        },
    }
    return (503 if status == "unhealthy" else 200), body
