"""Parley's storage error types: what the resilience layer reacts to.

    StorageError                 a store could not do what was asked
    ├── StorageUnavailable       the store cannot be reached or refused service
    │   └── StorageTimeout       the call ran past its deadline (frozen/overloaded)
    └── StorageConflict          a constraint was broken: uniqueness, or a foreign key
                                 to a row that is gone (a bug or a race, never a
                                 reason to fall back)

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
    """A constraint rejected the write: `kind` is "unique" (the usual case),
    "foreign_key" (a referenced row is gone) or "other"; `constraint` names it
    when the driver said which."""

    def __init__(
        self,
        message: str,
        *,
        store: str,
        operation: str = "",
        kind: str = "unique",
        constraint: str | None = None,
    ) -> None:
        super().__init__(message, store=store, operation=operation)
        self.kind = kind
        self.constraint = constraint


class BreakerOpen(StorageUnavailable):
    """The store's circuit breaker is open: the call was not attempted."""
