"""Health answers with short, safe reasons; the raw driver error goes to the
log only; one failed probe does not open a breaker."""

from __future__ import annotations

import json

from structlog.testing import capture_logs

from parley.health.service import health_report
from parley.resilience import BreakerPolicy, CircuitBreaker
from parley.storage.errors import StorageTimeout, StorageUnavailable

RAW = "ConnectionRefusedError: [Errno 111] Connect call failed ('10.0.0.7', 5432)"


class Up:
    async def ping(self, deadline: float) -> float:
        return 1.5


class Refusing:
    async def ping(self, deadline: float) -> float:
        raise StorageUnavailable(RAW, store="postgresql", operation="PING")


class Frozen:
    async def ping(self, deadline: float) -> float:
        raise StorageTimeout("PING ran past its deadline", store="mongodb", operation="PING")


async def _noop() -> None:
    return None


POLICY = BreakerPolicy(window=10, minimum_calls=3, failure_rate=0.5)


def _breakers() -> dict[str, CircuitBreaker]:
    return {
        "mongodb": CircuitBreaker("mongodb", _noop, POLICY),
        "postgresql": CircuitBreaker("postgresql", _noop, POLICY),
    }


async def test_reasons_are_short_and_raw_errors_only_logged() -> None:
    breakers = _breakers()
    with capture_logs() as logs:
        body = await health_report(Frozen(), Refusing(), breakers, 0.1)
    assert body["status"] == "unhealthy"
    assert body["details"]["postgresql"]["error"] == "unreachable"
    assert body["details"]["mongodb"]["error"] == "timeout"
    assert "Errno" not in json.dumps(body) and "10.0.0.7" not in json.dumps(body)
    assert any(RAW in str(entry.get("error")) for entry in logs)


async def test_one_failed_probe_does_not_open_the_breaker() -> None:
    breakers = _breakers()
    await health_report(Up(), Refusing(), breakers, 0.1)
    assert not breakers["postgresql"].is_open
    for _ in range(2):
        await health_report(Up(), Refusing(), breakers, 0.1)
    assert breakers["postgresql"].is_open  # three calls of three failed: like any calls
    assert not breakers["mongodb"].is_open


async def test_healthy() -> None:
    body = await health_report(Up(), Up(), _breakers(), 0.1)
    assert body["status"] == "healthy"
    assert body["details"]["mongodb"] == {"latencyMs": 1.5, "error": None}
