"""The one place PyMongo errors become Parley's storage errors.

Most specific first: running past the deadline (ours, the server's `maxTimeMS`,
a socket or pool wait) is a timeout; a write MongoDB applied but could not
acknowledge with the configured write concern (`writeConcernError`, alone or in
a bulk write's result) is unavailability, because a failover may roll it back;
duplicate keys are conflicts; network, selection and "not primary"/shutdown
errors are unavailability; other operation failures are bugs and surface
unchanged so that fallback never hides them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo import errors as pm_errors

from parley.storage.errors import StorageConflict, StorageTimeout, StorageUnavailable

STORE = "mongodb"

# Server error codes meaning "not now": shutdown, not primary, interrupted, etc.,
# and 1 (InternalError: the server failed, e.g. FerretDB when its backend timed out).
_UNAVAILABLE_CODES = frozenset(
    {1, 6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 202}
)


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Re-raise PyMongo errors from the block as Parley storage errors."""
    try:
        yield
    except (
        TimeoutError,
        pm_errors.ExecutionTimeout,  # maxTimeMS expired on the server
        pm_errors.NetworkTimeout,  # no answer on the socket in time (a frozen server)
        pm_errors.WaitQueueTimeoutError,  # no pooled connection in time (local queueing)
    ) as exc:
        raise StorageTimeout(
            f"{operation} ran past its deadline", store=STORE, operation=operation
        ) from exc
    except pm_errors.DuplicateKeyError as exc:
        raise StorageConflict(str(exc), store=STORE, operation=operation) from exc
    except (
        pm_errors.AutoReconnect,
        pm_errors.ServerSelectionTimeoutError,
        pm_errors.ConnectionFailure,
        pm_errors.WTimeoutError,
        pm_errors.PyMongoError,
    ) as exc:
        if isinstance(exc, pm_errors.PyMongoError) and _is_unavailable(exc):
            raise StorageUnavailable(
                f"{type(exc).__name__}: {exc}", store=STORE, operation=operation
            ) from exc
        raise


def write_concern_failed(exc: pm_errors.PyMongoError) -> bool:
    """The write was not acknowledged with the requested write concern: a
    `WriteConcernError`, or a `BulkWriteError` whose result carries
    `writeConcernErrors` (with or without write errors beside them)."""
    if isinstance(exc, pm_errors.WriteConcernError):
        return True
    if isinstance(exc, pm_errors.BulkWriteError):
        return bool(exc.details.get("writeConcernErrors"))
    return False


def _is_unavailable(exc: pm_errors.PyMongoError) -> bool:
    if isinstance(
        exc,
        pm_errors.ConnectionFailure
        | pm_errors.ServerSelectionTimeoutError
        | pm_errors.WTimeoutError
        | pm_errors.WaitQueueTimeoutError,
    ):
        return True
    if write_concern_failed(exc) or exc.timeout:
        return True
    if isinstance(exc, pm_errors.OperationFailure) and exc.code in _UNAVAILABLE_CODES:
        return True
    return exc.has_error_label("RetryableWriteError") or exc.has_error_label(
        "TransientTransactionError"
    )
