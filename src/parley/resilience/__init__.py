"""Parley's resilience toolkit: generic building blocks for running one piece of
work against two stores that may fail independently. It knows stores by name
("mongodb", "postgresql") and nothing of messages, profiles or queues; the DM
replication in `parley.replication` is its first user.

    CircuitBreaker           refuses calls to a store that keeps failing
    StoreGuard               a store's named operations behind its breaker
    Stall                    a store that missed a deadline and has not answered since
    with_mongo_fallback      MongoDB first, PostgreSQL when it is unavailable
    with_postgres_fallback   the mirror image
    sync_to_both_databases   one write to both stores concurrently
    Coalescer                group commit: concurrent writes share one call
    check_database_health    both stores probed concurrently, under a deadline
    Metrics                  counters and gauges for `/api/metrics`
    Supervisor               background loops restarted with backoff when they fail

Import from here; the modules behind it are private.
"""

from parley.resilience._breaker import BreakerPolicy, CircuitBreaker
from parley.resilience._coalesce import Coalescer
from parley.resilience._dualwrite import DualWrite, Hook, StillWriting, sync_to_both_databases
from parley.resilience._fallback import (
    LABELS,
    MONGODB,
    POSTGRESQL,
    MongoOperation,
    PostgresOperation,
    Sourced,
    with_mongo_fallback,
    with_postgres_fallback,
)
from parley.resilience._guard import Runner, StoreGuard
from parley.resilience._health import (
    Pingable,
    ProbeResult,
    check_database_health,
    probe_databases,
    utc_timestamp,
)
from parley.resilience._metrics import Metrics
from parley.resilience._stall import Stall
from parley.resilience._supervisor import Supervisor

__all__ = [
    "LABELS",
    "MONGODB",
    "POSTGRESQL",
    "BreakerPolicy",
    "CircuitBreaker",
    "Coalescer",
    "DualWrite",
    "Hook",
    "Metrics",
    "MongoOperation",
    "Pingable",
    "PostgresOperation",
    "ProbeResult",
    "Runner",
    "Sourced",
    "Stall",
    "StillWriting",
    "StoreGuard",
    "Supervisor",
    "check_database_health",
    "probe_databases",
    "sync_to_both_databases",
    "utc_timestamp",
    "with_mongo_fallback",
    "with_postgres_fallback",
]
