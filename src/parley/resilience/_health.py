"""Database health: both probes run concurrently, each under its own deadline,
so a frozen server costs the health check its deadline and no more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from parley.storage.errors import StorageError


class Pingable(Protocol):
    async def ping(self, deadline: float) -> float: ...


@dataclass(frozen=True)
class ProbeResult:
    up: bool
    latency_ms: float | None
    error: str | None


async def _probe(ping: Callable[[float], Awaitable[float]], deadline: float) -> ProbeResult:
    try:
        latency = await ping(deadline)
    except StorageError as exc:
        return ProbeResult(False, None, str(exc))
    return ProbeResult(True, round(latency, 2), None)


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def probe_databases(
    mongo: Pingable, postgres: Pingable, deadline: float
) -> dict[str, ProbeResult]:
    mongo_result, postgres_result = await asyncio.gather(
        _probe(mongo.ping, deadline), _probe(postgres.ping, deadline)
    )
    return {"mongodb": mongo_result, "postgresql": postgres_result}


async def check_database_health(
    mongo: Pingable, postgres: Pingable, *, deadline: float = 0.4
) -> dict[str, Any]:
    """Probe both databases concurrently.

    Returns `{"mongodb": bool, "postgresql": bool, "timestamp": str}` (ISO-8601
    UTC). Never raises for an unreachable database and never waits longer than
    `deadline` for one.
    """
    results = await probe_databases(mongo, postgres, deadline)
    return {
        "mongodb": results["mongodb"].up,
        "postgresql": results["postgresql"].up,
        "timestamp": utc_timestamp(),
    }
