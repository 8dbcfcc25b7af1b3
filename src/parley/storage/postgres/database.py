"""Parley's PostgreSQL handle: one async engine per process, built in the app's
lifespan, with a deadline on every named operation.

`run(name, fn)` is for resilience-aware callers (DM storage, replay, health):
one short transaction under a deadline with driver errors translated. The
deadline also becomes the transaction's `statement_timeout`, so PostgreSQL
cancels a statement the app stopped waiting for; other statements get the
connection's default, the client's `command_timeout`. Each connection
remembers the timeout it has, and a transaction sets it only when it needs
another (`_apply_statement_timeout`): most transactions of one process share
one deadline, so they cost no extra round trip.
`unit_of_work()` is the per-request session for the PostgreSQL-only domains:
it commits when the request succeeds and rolls back when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from parley.settings import Settings, driver_backstop
from parley.storage.deadline import within_deadline
from parley.storage.operations import OperationObserver, Operations
from parley.storage.postgres.errors import translate_errors
from parley.storage.postgres.named import bind

T = TypeVar("T")
STATEMENT_TIMEOUT_MS = "parley_statement_timeout_ms"  # a session's, in its info
ABANDONED_AFTER = "parley_abandoned_after"  # when its caller stops waiting (monotonic)
# In a connection's info: the timeout it has now (absent: not known), and the
# one it was opened with.
TIMEOUT_ON_SERVER_MS = "parley_statement_timeout_on_server_ms"
DEFAULT_TIMEOUT_MS = "parley_statement_timeout_default_ms"
AFTER_COMMIT = "parley_after_commit"
# Connections `fill_pool` opens at once.
FILL_AT_ONCE = 4


def on_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the request's unit of work has committed (never on
    rollback): events describe only what was stored."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


class PostgresDatabase:
    def __init__(
        self, engine: AsyncEngine, deadline: float, observer: OperationObserver | None = None
    ) -> None:
        self.engine = engine
        self.deadline = deadline
        self.operations = Operations("postgresql", observer)
        self.sessionmaker = async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=_Session
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, observer: OperationObserver | None = None
    ) -> PostgresDatabase:
        default_timeout_ms = int(settings.driver_backstop * 1000)
        engine = create_async_engine(
            settings.sqlalchemy_url.get_secret_value(),
            # No overflow: an overflow connection is closed when it is returned
            # to a full pool, so steady load beyond the pool's size opened and
            # closed a connection per request (BENCHMARKS.md, "HTTP throughput").
            pool_size=settings.pg_pool_size,
            max_overflow=0,
            # A call waits for a connection within its own deadline (`run`);
            # this only bounds the longest, the last store standing's.
            pool_timeout=settings.last_store_seconds,
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={
                "timeout": settings.connect_timeout,
                "command_timeout": settings.driver_backstop,
                # The server-side bound for statements outside `run` (requests'
                # units of work): the same as the client's command_timeout.
                "server_settings": {
                    "application_name": "parley",
                    "statement_timeout": str(default_timeout_ms),
                },
            },
        )
        _track_statement_timeout(engine, default_timeout_ms)
        return cls(engine, settings.db_deadline, observer)

    async def run(
        self,
        name: str,
        fn: Callable[[AsyncSession], Awaitable[T]],
        *,
        deadline: float | None = None,
    ) -> T:
        """Run `fn` in one transaction named `name`, within the deadline."""
        seconds = deadline or self.deadline
        with self.operations.timed(name), translate_errors(name):
            # The server's statement_timeout ends the transaction: cancelling it
            # here instead would close its connection (an asyncpg connection
            # cancelled mid-statement is not reused) and open another, one per
            # late answer under overload. Cancelled one deadline later only if
            # the server has not ended it (frozen); one that gets its connection
            # after the deadline runs nothing (`_apply_statement_timeout`).
            return await within_deadline(self._transaction(fn, seconds), seconds, backstop=seconds)

    async def _transaction(self, fn: Callable[[AsyncSession], Awaitable[T]], seconds: float) -> T:
        async with self.sessionmaker.begin() as session:
            # The deadline on the server too, set when (and only if) the
            # transaction takes a connection: see `_apply_statement_timeout`.
            session.info[STATEMENT_TIMEOUT_MS] = _timeout_ms(seconds)
            session.info[ABANDONED_AFTER] = time.monotonic() + seconds
            return await fn(session)

    @asynccontextmanager
    async def unit_of_work(self, name: str = "REQUEST") -> AsyncIterator[AsyncSession]:
        """A session for one request: commit on success, roll back on error, then
        run the `on_commit` callbacks."""
        with translate_errors(name):
            async with self.sessionmaker() as session:
                bind(session, self.operations)
                try:
                    yield session
                    await within_deadline(
                        session.commit(), driver_backstop(self.deadline, floor=0.0)
                    )
                except BaseException:
                    await _rollback_quietly(session)
                    raise
        for callback in session.info.get(AFTER_COMMIT, ()):
            await callback()

    async def ping(self, deadline: float) -> float:
        """Round-trip `SELECT 1`; returns milliseconds or raises a storage error."""
        started = time.perf_counter()
        await self.run("HEALTH_PING_POSTGRES", _select_one, deadline=deadline)
        return (time.perf_counter() - started) * 1000

    async def fill_pool(self, deadline: float) -> None:
        """Check out every connection of the pool, so the pool opens those it
        lacks and reopens those it holds as dead (the app's start-up warm-up,
        and before PostgreSQL serves again after an outage). Errors are
        ignored: a connection left unopened is opened when next needed."""
        size = self.engine.pool.size()  # type: ignore[attr-defined]
        filler = _PoolFiller(size, deadline)
        # Each ping waits its turn, then has `deadline` to open its connection:
        # against a store that answers, a few round trips; at worst (every
        # connect timing out) a few deadlines before the store serves again.
        whole = deadline * (math.ceil(size / FILL_AT_ONCE) + 1)
        pings = [self.run("POOL_FILL_PING", filler.hold_one, deadline=whole) for _ in range(size)]
        try:
            await asyncio.gather(*pings, return_exceptions=True)
        finally:  # also when cancelled: no connection stays held for nobody
            filler.release_all()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _timeout_ms(seconds: float) -> int:
    """A deadline as the server's `statement_timeout` (0 would mean none)."""
    return max(int(seconds * 1000), 1)


class _PoolFiller:
    """Pings that each take a connection of the pool and hold it until every
    ping has one (or gave up), so no ping reuses another's, with at most
    FILL_AT_ONCE opening at a time: 20 opening at once after an outage took
    100-190 ms each and slowed the MongoDB calls beside them 10-30x on a
    2-CPU machine (BENCHMARKS, failover Runs 25-28)."""

    def __init__(self, size: int, deadline: float) -> None:
        self._opening = asyncio.Semaphore(FILL_AT_ONCE)
        self._waiting = size
        self._all_out = asyncio.Event()
        # The statement timeout a call with this deadline sets (`_transaction`),
        # left on the connection for the calls that come after.
        self._timeout_ms = _timeout_ms(deadline)

    async def hold_one(self, session: AsyncSession) -> None:
        try:
            async with self._opening:
                if self._all_out.is_set():  # the fill is over (cancelled): take nothing
                    return
                session.info[STATEMENT_TIMEOUT_MS] = self._timeout_ms
                await session.execute(text("SELECT 1"))
        finally:
            self._waiting -= 1
            if self._waiting == 0:
                self.release_all()
        await self._all_out.wait()

    def release_all(self) -> None:
        self._all_out.set()


class _Session(Session):
    """The sync session behind Parley's async sessions (a class of its own, so
    the listener below applies to Parley's sessions only)."""


@event.listens_for(_Session, "after_begin")
def _apply_statement_timeout(session: Session, _: object, connection: Connection) -> None:
    """A statement the app gave up on is cancelled where it runs: the
    transaction's deadline (the connection's default for a session without
    one) becomes the connection's `statement_timeout` before the first
    statement, unless the connection has it already. A plain SET, not SET
    LOCAL, so it outlasts the transaction and the next one with the same
    deadline skips it; a rollback undoes it, so a rollback forgets what the
    connection has (`_track_statement_timeout`). A transaction that never
    takes a connection (a send waiting for its group-commit batch) costs
    nothing."""
    if time.monotonic() > session.info.get(ABANDONED_AFTER, math.inf):
        # Its caller has had its timeout: a transaction that waited that long
        # for a connection must not run its statements (and commit) for nobody.
        raise TimeoutError("the transaction got its connection after its deadline")
    ms = session.info.get(STATEMENT_TIMEOUT_MS, connection.info.get(DEFAULT_TIMEOUT_MS))
    if ms is None or connection.info.get(TIMEOUT_ON_SERVER_MS) == ms:
        return
    connection.exec_driver_sql(f"SET statement_timeout = {int(ms)}")
    connection.info[TIMEOUT_ON_SERVER_MS] = ms


def _track_statement_timeout(engine: AsyncEngine, default_ms: int) -> None:
    """Keep each connection's `TIMEOUT_ON_SERVER_MS` true: the default when it
    opens, not known after a rollback (which undoes a SET made in it) or any
    error on it (a transaction an error aborted ends in a rollback even when
    it is committed)."""

    def opened(_: object, record: Any) -> None:
        record.info[DEFAULT_TIMEOUT_MS] = record.info[TIMEOUT_ON_SERVER_MS] = default_ms

    def forget(connection: Connection | None) -> None:
        # An invalidated connection is discarded with what it remembers (and
        # asking for its `info` would try to reconnect).
        if connection is not None and not (connection.invalidated or connection.closed):
            connection.info.pop(TIMEOUT_ON_SERVER_MS, None)

    def failed(context: ExceptionContext) -> None:
        forget(context.connection)

    event.listen(engine.sync_engine, "connect", opened)
    event.listen(engine.sync_engine, "rollback", forget)
    event.listen(engine.sync_engine, "handle_error", failed)


async def _select_one(session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))


async def _rollback_quietly(session: AsyncSession) -> None:
    with contextlib.suppress(Exception):  # the original error is what matters
        await within_deadline(session.rollback(), 0.5)
