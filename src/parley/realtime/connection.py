"""One WebSocket connection's outgoing side: a bounded queue of rendered frames,
the task that writes them, and the heartbeat that notices a silent peer.

Producers (the hub, the frame handler) call `offer`, which never blocks: when
the queue is full the connection is ended with 4009 and its queue dropped, so a
client that reads too slowly costs the server a bounded amount of memory.
This module does not parse client frames or know about rooms' access rules.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from parley.realtime.schemas import PING, CloseCode

log = structlog.get_logger("parley.realtime")

SendText = Callable[[str], Awaitable[None]]
_ids = itertools.count(1)


class Connection:
    def __init__(self, profile_id: uuid.UUID, send: SendText, queue_size: int) -> None:
        self.id = next(_ids)
        self.profile_id = profile_id
        self.rooms: set[uuid.UUID] = set()
        self.last_seen = time.monotonic()
        self.close_code: CloseCode | None = None
        self.close_reason = ""
        self.ended = asyncio.Event()
        self._send = send
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)

    def __repr__(self) -> str:
        return f"<Connection {self.id} profile={self.profile_id}>"

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def offer(self, frame: str) -> None:
        """Queue `frame` for sending; end the connection (4009) when it is full."""
        if self.ended.is_set():
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("ws_slow_consumer", connection=self.id, profile_id=str(self.profile_id))
            self.end(CloseCode.SLOW_CONSUMER, "slow consumer: outgoing queue full")

    def end(self, code: CloseCode | None, reason: str = "") -> None:
        """Stop the connection: `code` is the close code to send, None when the
        peer is already gone. Idempotent; the first reason wins."""
        if self.ended.is_set():
            return
        self.close_code = code
        self.close_reason = reason
        while not self._queue.empty():  # release the memory now
            self._queue.get_nowait()
        self.ended.set()

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    async def pump(self) -> None:
        """Write queued frames in order until the connection ends."""
        while not self.ended.is_set():
            frame = await self._queue.get()
            try:
                await self._send(frame)
            except Exception as exc:  # the peer went away mid-send
                log.debug("ws_send_failed", connection=self.id, error=repr(exc))
                self.end(None)
                return

    async def heartbeat(self, interval: float, grace: float) -> None:
        """Ping a client that has been silent for `interval` seconds; end the
        connection (4010) if it stays silent `grace` seconds more."""
        while not self.ended.is_set():
            idle = time.monotonic() - self.last_seen
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            self.offer(PING)
            await asyncio.sleep(grace)
            if time.monotonic() - self.last_seen >= interval + grace:
                self.end(CloseCode.HEARTBEAT_TIMEOUT, "no answer to ping")
