"""The life of one WebSocket: authenticate, then read client frames one at a
time and answer them, while the connection's pump writes outgoing frames.

Every client frame is handled in isolation: a malformed one gets a BadRequest
error frame, an unexpected failure an InternalError frame, and neither ends the
connection. Each subscribe checks access in its own short unit of work; no
database session lives as long as the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog
from pydantic import SecretStr
from starlette.websockets import WebSocket

from parley.auth.tokens import Claims, InvalidToken, verify_claims
from parley.errors import TooManyRequests
from parley.realtime.config import RealtimeConfig
from parley.realtime.connection import Connection
from parley.realtime.hub import Hub
from parley.realtime.schemas import (
    PONG,
    AuthFrame,
    ClientFrame,
    CloseCode,
    FrameError,
    PingFrame,
    PongFrame,
    SubscribeFrame,
    UnsubscribeFrame,
    authenticated_frame,
    error_frame,
    parse_client_frame,
    subscribed_frame,
    unsubscribed_frame,
)
from parley.realtime.service import RealtimeService
from parley.rooms.access import NotVisible, Unknown
from parley.security.sessions import RevocationList

log = structlog.get_logger("parley.realtime")

_ACCESS_RETRIES = 3


async def _expire(connection: Connection, expires_at: float) -> None:
    """End the connection (4001) when its token expires: reconnect with a new one."""
    await asyncio.sleep(max(expires_at - time.time(), 0))
    connection.end(CloseCode.UNAUTHORIZED, "token expired")


async def _end_when_revoked(
    connection: Connection, claims: Claims, revocations: RevocationList
) -> None:
    """End the connection (4001) when its session is logged out, here or on
    another instance (learned at the next revocation poll)."""
    while not revocations.is_revoked(claims):
        await revocations.wait_for_change()
    connection.end(CloseCode.UNAUTHORIZED, "session revoked")


class Session:
    def __init__(
        self,
        websocket: WebSocket,
        service: RealtimeService,
        hub: Hub,
        config: RealtimeConfig,
        jwt_keys: Sequence[SecretStr],
        revocations: RevocationList,
        admit: Callable[[uuid.UUID], Awaitable[None]],
    ) -> None:
        self.websocket = websocket
        self.service = service
        self.hub = hub
        self.config = config
        self.jwt_keys = jwt_keys
        self.revocations = revocations
        # Raises TooManyRequests when the account opened too many connections.
        self.admit = admit

    async def run(self) -> None:
        await self.websocket.accept()
        authenticated = await self._authenticate()
        if authenticated is None:
            return
        claims = authenticated
        profile_id, expires_at = claims.profile_id, claims.expires_at
        connection = Connection(profile_id, self.websocket.send_text, self.config.send_queue_size)
        self.hub.attach(connection)
        connection.offer(authenticated_frame(profile_id, self.service.instance_id))
        log.info("ws_connected", connection=connection.id, profile_id=str(profile_id))
        tasks = [
            asyncio.create_task(connection.pump()),
            asyncio.create_task(self._read(connection)),
            asyncio.create_task(
                connection.heartbeat(self.config.heartbeat_interval, self.config.heartbeat_timeout)
            ),
            asyncio.create_task(connection.ended.wait()),
            asyncio.create_task(_expire(connection, expires_at)),
            asyncio.create_task(_end_when_revoked(connection, claims, self.revocations)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("ws_task_failed", connection=connection.id, error=task.exception())
            # Whatever ended the connection without saying why was a bug.
            connection.end(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.hub.detach(connection)
        log.info(
            "ws_disconnected",
            connection=connection.id,
            code=connection.close_code,
            reason=connection.close_reason,
        )
        if connection.close_code is not None:
            await self._close(connection.close_code, connection.close_reason)

    # -- authentication -----------------------------------------------------------
    async def _authenticate(self) -> Claims | None:
        """The token's claims, or None once the connection has been closed."""
        token = self.websocket.query_params.get("token")
        if token is None:
            try:
                async with asyncio.timeout(self.config.auth_timeout):
                    message = await self.websocket.receive()
            except TimeoutError:
                await self._close(CloseCode.AUTH_TIMEOUT, "no auth frame in time")
                return None
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text") or ""
            if len(text) > self.config.max_frame_chars:  # checked before parsing
                await self._close(CloseCode.MESSAGE_TOO_BIG, "the frame is too large")
                return None
            try:
                frame = parse_client_frame(text)
            except FrameError:
                frame = None
            if not isinstance(frame, AuthFrame):
                await self._close(CloseCode.UNAUTHORIZED, "the first frame must be auth")
                return None
            token = frame.token
        try:
            claims = verify_claims(token, [key.get_secret_value() for key in self.jwt_keys])
        except InvalidToken:
            await self._close(CloseCode.UNAUTHORIZED, "invalid or expired token")
            return None
        if self.revocations.is_revoked(claims):
            await self._close(CloseCode.UNAUTHORIZED, "the session has been logged out")
            return None
        try:
            await self.admit(claims.profile_id)
        except TooManyRequests as exc:
            reason = f"too many connections; retry after {exc.retry_after} s"
            await self._close(CloseCode.TOO_MANY_REQUESTS, reason)
            return None
        return claims

    async def _close(self, code: CloseCode, reason: str) -> None:
        # A peer that does not read can hold a close frame back; do not wait forever.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.config.close_timeout):
                await self.websocket.close(int(code), reason)

    # -- client frames ------------------------------------------------------------
    async def _read(self, connection: Connection) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                connection.end(None)
                return
            connection.touch()
            text = message.get("text")
            if text is None:
                connection.offer(error_frame("BadRequest", "Binary frames are not supported."))
                continue
            if len(text) > self.config.max_frame_chars:
                connection.offer(error_frame("BadRequest", "The frame is too large."))
                continue
            try:
                frame = parse_client_frame(text)
            except FrameError as exc:
                connection.offer(error_frame("BadRequest", exc.detail, exc.room_id))
                continue
            except Exception:  # parse_client_frame promises FrameError only; be sure
                log.exception("ws_frame_parse_failed", connection=connection.id)
                connection.offer(error_frame("BadRequest", "The frame is malformed."))
                continue
            try:
                await self._handle(connection, frame)
            except Exception:
                log.exception("ws_frame_failed", connection=connection.id)
                connection.offer(error_frame("InternalError", "The frame could not be handled."))

    async def _handle(self, connection: Connection, frame: ClientFrame) -> None:
        if isinstance(frame, PingFrame):
            connection.offer(PONG)
        elif isinstance(frame, PongFrame):
            return
        elif isinstance(frame, SubscribeFrame):
            await self._subscribe(connection, frame.room_id)
        elif isinstance(frame, UnsubscribeFrame):
            self.hub.unsubscribe(connection, frame.room_id)
            connection.offer(unsubscribed_frame(frame.room_id))
        elif isinstance(frame, AuthFrame):
            connection.offer(error_frame("BadRequest", "Already authenticated."))

    async def _subscribe(self, connection: Connection, room_id: uuid.UUID) -> None:
        if room_id in connection.rooms:
            connection.offer(subscribed_frame(room_id))
            return
        if len(connection.rooms) >= self.config.max_subscriptions:
            connection.offer(
                error_frame("TooManySubscriptions", "Unsubscribe from a room first.", room_id)
            )
            return
        # A revocation that lands while access is being checked may have been
        # decided after our read: check again until none raced with us.
        for _ in range(_ACCESS_RETRIES):
            revocations = self.hub.revocations
            access = await self.service.check_access(room_id, connection.profile_id)
            if self.hub.revocations == revocations:
                break
        else:
            access = Unknown("access changed while it was checked")
        if connection.ended.is_set():
            return
        if isinstance(access, NotVisible):
            connection.offer(error_frame("NotFound", "No such room.", room_id))
        elif isinstance(access, Unknown):
            connection.offer(
                error_frame("StorageUnavailable", "Room access cannot be checked now.", room_id)
            )
        else:
            # No await between these two: no event can slip in before "subscribed".
            self.hub.subscribe(connection, room_id)
            connection.offer(subscribed_frame(room_id))
