"""Parley's resilience layer: fallback, dual writes, circuit breakers, replay and
health, above the stores and below the services."""

from parley.resilience.health import check_database_health

__all__ = ["check_database_health"]
