"""Cross-instance event transport: PostgreSQL LISTEN/NOTIFY on one dedicated
asyncpg connection per instance, outside the SQLAlchemy pool.

    publish(text)  -> outbox (bounded, ordered) -> one task sends batches of
                      NOTIFYs in order over the dedicated connection
    NOTIFY         -> inbound queue (bounded) -> one task calls `on_envelope`
                      in arrival order

The connection reconnects by itself with capped exponential backoff and
jitter; a liveness query every few seconds notices a frozen server or a
half-open socket. Notifications sent while this instance was not listening are
lost to it, so after every reconnect `on_restored` is called and the service
tells its subscribers to fill the gap over REST. The same happens when events
may have been lost elsewhere:

- a peer instance's LISTEN connection disappeared without saying goodbye (it
  was killed, or lost its connection): events it had acknowledged but not yet
  sent may be gone. The liveness query lists the peers' connections to notice
  this; an instance that stops cleanly sends its outbox, then `LEAVING`.
- a peer dropped events from its outbox (too many, or older than the outbox
  allows): it sends a marker first, `LOST_EVENTS`.
- this instance's inbound queue overflowed (one call after it drained, not one
  per dropped notification).

While PostgreSQL is down the outbox keeps the newest events (bounded in number
and age) and sends them when it returns.

The transport moves opaque text; it neither parses envelopes nor knows rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
import structlog

from parley.realtime.config import RealtimeConfig
from parley.resilience import Supervisor
from parley.storage.deadline import within_deadline

log = structlog.get_logger("parley.realtime.transport")

OnEnvelope = Callable[[str], Awaitable[None]]
OnRestored = Callable[[str], None]  # called with the reason subscribers get

# Not envelopes (those are JSON objects): "events from me were dropped", and
# "I am stopping cleanly; everything I acknowledged was sent before this".
LOST_EVENTS = "!lost"
LEAVING = "!leaving"
_LEAVE_SECONDS = 0.5
# The peers' LISTEN connections, for the liveness check.
_PEERS_SQL = (
    "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity "
    "WHERE application_name = 'parley-realtime' AND pid <> pg_backend_pid()"
)

# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7900
_BATCH = 200
_INBOUND_SIZE = 10_000
# Sends a batch of notifications in one statement; a transaction delivers its
# notifications in the order they were sent.
_NOTIFY_SQL = (
    "SELECT pg_notify($1, payload) "
    "FROM unnest($2::text[]) WITH ORDINALITY AS t(payload, n) ORDER BY n"
)


class Transport(Protocol):
    def publish(self, text: str) -> None:
        """Queue `text` for every other instance; never blocks, keeps order."""

    async def start(self, on_envelope: OnEnvelope, on_restored: OnRestored) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """For `/api/health`: whether the LISTEN connection is up (false from
        when it is known lost, within a liveness check of a freeze), how often
        it was made again after a loss or a failed start, and how many other
        instances' connections the last liveness check saw (null until the
        first check after connecting)."""


def asyncpg_dsn(database_url: str) -> str:
    scheme, rest = database_url.split("://", 1)
    del scheme
    return f"postgresql://{rest}"


class PgNotifyTransport:
    def __init__(self, dsn: str, config: RealtimeConfig, supervisor: Supervisor) -> None:
        self._dsn = dsn
        self._config = config
        self._supervisor = supervisor
        self._outbox: deque[tuple[float, str]] = deque()
        self._inbound: asyncio.Queue[str] = asyncio.Queue(maxsize=_INBOUND_SIZE)
        self._wakeup = asyncio.Event()
        self._lost = asyncio.Event()
        self._conn: Any = None
        self._on_envelope: OnEnvelope | None = None
        self._on_restored: OnRestored | None = None
        self.connected = asyncio.Event()
        self.dropped = 0
        self.reconnects = 0
        self._dropped_unannounced = False
        self._overflowed = False
        self._peers: set[int] | None = None
        self._departed: set[int] = set()
        self._drained = asyncio.Event()  # set whenever the outbox was sent empty

    # -- publishing -----------------------------------------------------------
    def publish(self, text: str) -> None:
        self._outbox.append((time.monotonic(), text))
        if len(self._outbox) > self._config.outbox_size:
            self._outbox.popleft()
            self._count_drop("outbox_full")
        self._wakeup.set()

    def _count_drop(self, why: str) -> None:
        self.dropped += 1
        if why != "inbound_full":
            self._dropped_unannounced = True
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning("realtime_events_dropped", why=why, total=self.dropped)

    def _take_batch(self) -> list[tuple[float, str]]:
        oldest_allowed = time.monotonic() - self._config.outbox_max_age
        batch: list[tuple[float, str]] = []
        while self._outbox and len(batch) < _BATCH:
            entry = self._outbox.popleft()
            if entry[0] < oldest_allowed:
                self._count_drop("too_old")
                continue
            batch.append(entry)
        if self._dropped_unannounced and batch:
            self._dropped_unannounced = False
            batch.insert(0, (time.monotonic(), LOST_EVENTS))
        return batch

    def status(self) -> dict[str, Any]:
        peers = None if self._peers is None else len(self._peers)
        return {"listening": self.connected.is_set(), "reconnects": self.reconnects, "peers": peers}

    # -- lifecycle ------------------------------------------------------------
    async def start(self, on_envelope: OnEnvelope, on_restored: OnRestored) -> None:
        self._on_envelope = on_envelope
        self._on_restored = on_restored
        self._supervisor.spawn("realtime-notify", self._run)
        self._supervisor.spawn("realtime-inbound", self._consume)

    async def stop(self) -> None:
        if self.connected.is_set():  # say goodbye after the outbox, briefly
            self._drained.clear()
            self.publish(LEAVING)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), _LEAVE_SECONDS)
        await self._supervisor.stop()
        await self._drop_connection()

    # -- the connection loop --------------------------------------------------
    async def _run(self) -> None:
        delay = self._config.reconnect_min_delay
        failed = False
        while True:
            try:
                await self._connect()
            except Exception as exc:
                await self._drop_connection()
                if not failed:
                    log.warning("realtime_listen_unavailable", error=repr(exc))
                failed = True
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311
                delay = min(delay * 2, self._config.reconnect_max_delay)
                continue
            delay = self._config.reconnect_min_delay
            if failed:
                self.reconnects += 1
                log.info("realtime_listen_restored", reconnects=self.reconnects)
                self._restored("transport_reconnected")
            failed = False
            self.connected.set()
            try:
                await self._serve()
            except Exception as exc:
                log.warning("realtime_listen_lost", error=repr(exc))
                failed = True
            finally:
                self.connected.clear()
                await self._drop_connection()

    async def _connect(self) -> None:
        self._lost.clear()
        self._peers = None  # peers that reconnected meanwhile are not lost
        conn = await within_deadline(
            asyncpg.connect(
                self._dsn,
                timeout=self._config.connect_timeout,
                server_settings={"application_name": "parley-realtime"},
            ),
            self._config.connect_timeout * 2,
        )
        self._conn = conn
        conn.add_termination_listener(self._on_terminated)
        await within_deadline(
            conn.add_listener(self._config.notify_channel, self._on_notify), self._deadline
        )

    def _on_terminated(self, _conn: object) -> None:
        self._lost.set()
        self._wakeup.set()  # do not wait for the next liveness check

    @property
    def _deadline(self) -> float:
        return max(self._config.db_deadline * 2, 1.0)

    async def _serve(self) -> None:
        conn = self._conn
        checked = time.monotonic()
        while True:
            if self._lost.is_set():
                raise ConnectionError("LISTEN connection closed")
            if time.monotonic() - checked >= self._config.listen_check_interval:
                await self._check_peers(conn)  # also proves the connection alive
                checked = time.monotonic()
            batch = self._take_batch()
            if batch:
                await self._send(conn, batch)
                continue
            self._drained.set()
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._config.listen_check_interval)

    async def _send(self, conn: Any, batch: list[tuple[float, str]]) -> None:
        try:
            await within_deadline(
                conn.execute(_NOTIFY_SQL, self._config.notify_channel, [t for _, t in batch]),
                self._deadline,
            )
        except BaseException:
            # Not known to be sent: send again after reconnecting (a duplicate
            # is possible, a loss is not).
            self._outbox.extendleft(reversed(batch))
            raise

    async def _check_peers(self, conn: Any) -> None:
        peers = set(await within_deadline(conn.fetchval(_PEERS_SQL), self._deadline))
        lost = (self._peers or set()) - peers - self._departed
        if lost:
            log.info("realtime_peer_lost", connections=sorted(lost))
            self._restored("instance_lost")
        self._peers = peers
        self._departed &= peers

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await within_deadline(conn.close(timeout=0.2), 0.3)
        except Exception:
            conn.terminate()

    # -- inbound --------------------------------------------------------------
    def _on_notify(self, _conn: object, pid: int, _channel: str, payload: str) -> None:
        if payload == LEAVING:
            self._departed.add(pid)
            return
        try:
            self._inbound.put_nowait(payload)
        except asyncio.QueueFull:
            self._count_drop("inbound_full")
            self._overflowed = True

    def _restored(self, reason: str) -> None:
        if self._on_restored is not None:
            self._on_restored(reason)

    async def _consume(self) -> None:
        while True:
            text = await self._inbound.get()
            if self._overflowed and self._inbound.empty():
                self._overflowed = False
                self._restored("events_dropped")
            if text == LOST_EVENTS:
                self._restored("events_dropped")
                continue
            if self._on_envelope is None:
                continue
            try:
                await self._on_envelope(text)
            except Exception:
                log.exception("realtime_envelope_failed")
