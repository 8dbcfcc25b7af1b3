"""Parley's resilience layer: fallback, dual writes, circuit breakers, replay and
health, above the stores and below the services.

Public API (the original design's names):

- `with_mongo_fallback(mongo_operation, postgres_operation, operation_name, *, mongo, postgres)`
- `sync_to_both_databases(mongo_operation, postgres_operation, operation_name, *, mongo, postgres)`
- `check_database_health(mongo, postgres)`

and `Resilience`, which holds one process's breakers and workers and offers the
same three as methods that need no store arguments.
"""

from parley.resilience.dualwrite import DualWrite, sync_to_both_databases
from parley.resilience.fallback import Sourced, with_mongo_fallback
from parley.resilience.health import check_database_health
from parley.resilience.runtime import Resilience

__all__ = [
    "DualWrite",
    "Resilience",
    "Sourced",
    "check_database_health",
    "sync_to_both_databases",
    "with_mongo_fallback",
]
