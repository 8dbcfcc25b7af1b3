"""The one place PostgreSQL driver errors (asyncpg, SQLAlchemy) become Parley's.

Most specific first: a unique or foreign-key violation is a conflict (a caller's bug or a race,
never a reason to fall back); anything that says the connection or server is gone
is unavailability; a deadline overrun is a timeout, whether the app stopped
waiting or the server's `statement_timeout` cancelled the statement. Other database errors are
bugs and surface unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from parley.storage.errors import StorageConflict, StorageTimeout, StorageUnavailable

STORE = "postgresql"

# SQLSTATE classes that mean "the server cannot serve you now".
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57", "58")
_READ_ONLY_SQLSTATE = "25006"
_QUERY_CANCELED = "57014"


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return ""


_CONFLICT_KINDS = {"23505": "unique", "23503": "foreign_key"}


def _constraint(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str):
            return name
    return None


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(
        exc,
        OSError
        | ConnectionError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.CannotConnectNowError,
    ):
        return True
    cause = exc.__cause__ or getattr(exc, "orig", None)
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.OperationalError):
        return True
    code = _sqlstate(exc)
    if code.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES) or code == _READ_ONLY_SQLSTATE:
        return True
    return cause is not None and cause is not exc and _is_unavailable(cause)


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Re-raise driver errors from the block as Parley storage errors."""
    try:
        yield
    except (TimeoutError, sa_exc.TimeoutError) as exc:  # ours, or no pooled connection in time
        raise StorageTimeout(
            f"{operation} ran past its deadline", store=STORE, operation=operation
        ) from exc
    except sa_exc.IntegrityError as exc:
        raise StorageConflict(
            str(exc.orig),
            store=STORE,
            operation=operation,
            kind=_CONFLICT_KINDS.get(_sqlstate(exc), "other"),
            constraint=_constraint(exc),
        ) from exc
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise StorageConflict(str(exc), store=STORE, operation=operation) from exc
    except Exception as exc:
        if _sqlstate(exc) == _QUERY_CANCELED:
            # statement_timeout (the server side of our deadline) or a cancel request
            raise StorageTimeout(
                f"{operation} ran past its deadline (cancelled on the server)",
                store=STORE,
                operation=operation,
            ) from exc
        if _is_unavailable(exc):
            raise StorageUnavailable(
                f"{type(exc).__name__}: {exc}", store=STORE, operation=operation
            ) from exc
        raise
