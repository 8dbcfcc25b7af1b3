"""Parley's storage error types: what the resilience layer reacts to.

    StorageError                 a store could not do what was asked
    ├── StorageUnavailable       the store cannot be reached or refused service
    │   └── StorageTimeout       the call ran past its deadline (frozen/overloaded)
    └── StorageConflict          a uniqueness rule was broken (a bug or a race, never
                                 a reason to fall back)

Each store translates its own driver's exceptions into these in one module
(`storage/postgres/errors.py`, `storage/mongo/errors.py`). Nothing above the
stores catches a driver exception.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of all storage errors; `store` is "mongodb" or "postgresql"."""

    def __init__(self, message: str, *, store: str, operation: str = "") -> None:
        super().__init__(message)
        self.store = store
        self.operation = operation


class StorageUnavailable(StorageError):
    """The store is down, unreachable, read-only or otherwise refusing service."""


class StorageTimeout(StorageUnavailable):
    """The call did not finish within its deadline."""


class StorageConflict(StorageError):
    """A unique constraint rejected the write."""


class BreakerOpen(StorageUnavailable):
    """The store's circuit breaker is open: the call was not attempted."""
