"""Realtime delivery for one app instance: the `RoomEvents` implementation the
message and community services publish to, the access check behind
`subscribe`, and the handling of envelopes arriving from other instances.

    publisher --message_event--> hub (this instance, at once, no database)
                             \\--> transport --NOTIFY--> other instances' hubs

Each envelope carries this instance's id so its own NOTIFY echo is ignored: an
event is delivered once per subscriber. An envelope that would not fit in a
NOTIFY carries ids only and the receiving instance loads the message through
its `MessageSource`. Who may subscribe is the room-access policy's answer.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import structlog

from parley.realtime.events import MessageEventType
from parley.realtime.hub import Hub
from parley.realtime.schemas import message_frame, resync_frame
from parley.realtime.transport import MAX_PAYLOAD_BYTES, Transport
from parley.rooms.access import NotVisible, RoomAccessPolicy, RoomAnswer, Unknown

log = structlog.get_logger("parley.realtime")

_ENVELOPE_VERSION = 1
_REVOKE_CHUNK = 100  # room ids per revoke envelope: ~4 kB, well under the limit


class MessageSource(Protocol):
    """What realtime needs from the messages domain: a message's JSON by id."""

    async def load(self, room_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None: ...


class RealtimeService:
    def __init__(
        self,
        hub: Hub,
        transport: Transport,
        access: RoomAccessPolicy,
        messages: MessageSource,
        instance_id: str | None = None,
    ) -> None:
        self.access = access
        self.messages = messages
        self.hub = hub
        self.transport = transport
        self.instance_id = instance_id or secrets.token_hex(8)
        self._background: set[asyncio.Task[int]] = set()

    # -- RoomEvents -------------------------------------------------------------
    # Publishers call these after their write was acknowledged: they never
    # raise, so a delivery problem cannot turn a stored write into an error.
    async def message_event(
        self, event_type: MessageEventType, room_id: uuid.UUID, message: dict[str, Any]
    ) -> None:
        try:
            self.hub.deliver(room_id, message_frame(event_type, room_id, message))
            self.transport.publish(self._message_envelope(event_type, room_id, message))
        except Exception:
            log.exception("realtime_publish_failed", event_type=event_type, room_id=str(room_id))

    async def access_revoked(
        self, room_ids: Sequence[uuid.UUID], profile_id: uuid.UUID | None, reason: str
    ) -> None:
        try:
            self._revoke(room_ids, profile_id, reason)
        except Exception:
            log.exception("realtime_revoke_failed", reason=reason, rooms=len(room_ids))

    def _revoke(
        self, room_ids: Sequence[uuid.UUID], profile_id: uuid.UUID | None, reason: str
    ) -> None:
        self.hub.revoke(room_ids, profile_id, reason)
        for start in range(0, len(room_ids), _REVOKE_CHUNK):
            chunk = room_ids[start : start + _REVOKE_CHUNK]
            self.transport.publish(
                self._encode(
                    {
                        "k": "x",
                        "r": [str(room_id) for room_id in chunk],
                        "p": str(profile_id) if profile_id else None,
                        "why": reason,
                    }
                )
            )

    # -- envelopes --------------------------------------------------------------
    def _encode(self, body: dict[str, Any]) -> str:
        envelope = {"v": _ENVELOPE_VERSION, "i": self.instance_id, **body}
        return json.dumps(envelope, separators=(",", ":"), default=str)

    def _message_envelope(
        self, event_type: str, room_id: uuid.UUID, message: dict[str, Any]
    ) -> str:
        full = self._encode({"k": "m", "t": event_type, "r": str(room_id), "m": message})
        if len(full.encode()) < MAX_PAYLOAD_BYTES:
            return full
        return self._encode({"k": "m", "t": event_type, "r": str(room_id), "id": message["id"]})

    async def receive(self, text: str) -> None:
        """An envelope from the transport (possibly our own echo)."""
        try:
            envelope = json.loads(text)
            if not isinstance(envelope, dict) or envelope.get("v") != _ENVELOPE_VERSION:
                raise ValueError("not a version 1 envelope")
            if envelope.get("i") == self.instance_id:
                return
            kind = envelope["k"]
            if kind == "m":
                await self._remote_message(envelope)
            elif kind == "x":
                profile = envelope.get("p")
                self.hub.revoke(
                    [uuid.UUID(room) for room in envelope["r"]],
                    uuid.UUID(profile) if profile else None,
                    str(envelope["why"]),
                )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("realtime_bad_envelope", error=repr(exc), size=len(text))

    async def _remote_message(self, envelope: dict[str, Any]) -> None:
        room_id = uuid.UUID(envelope["r"])
        if not self.hub.has_subscribers(room_id):
            return
        message = envelope.get("m")
        if message is None:
            message = await self._load(room_id, uuid.UUID(str(envelope["id"])))
        if message is None:
            self.hub.deliver(room_id, resync_frame(room_id, "event_unavailable"))
            return
        self.hub.deliver(room_id, message_frame(str(envelope["t"]), room_id, message))

    async def _load(self, room_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        try:
            return await self.messages.load(room_id, message_id)
        except Exception as exc:
            log.warning("realtime_message_load_failed", room_id=str(room_id), error=repr(exc))
            return None

    def transport_restored(self, reason: str) -> None:
        """Notifications may have been missed (`reason`: not listening for a
        while, a peer instance lost, events dropped): messages (clients
        refetch after `resync`) and revocations (checked again here)."""
        count = self.hub.resync_all(reason)
        log.info("realtime_resync_sent", subscriptions=count, reason=reason)
        task = asyncio.create_task(self.recheck_subscriptions(), name="realtime-recheck")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def recheck_subscriptions(self, rounds: int = 10, pause: float = 1.0) -> int:
        """End the subscriptions whose access is gone; returns how many. One
        access check at a time, so a large instance does not flood PostgreSQL;
        checks that could not be answered (PostgreSQL not back yet) are tried
        again, `rounds` times, `pause` seconds apart."""
        ended = 0
        pending = self.hub.subscriptions()
        for round_ in range(rounds):
            if round_:
                await asyncio.sleep(pause)
            unanswered = []
            for connection, room_id in pending:
                if connection.ended.is_set() or room_id not in connection.rooms:
                    continue
                answer = await self.check_access(room_id, connection.profile_id)
                if isinstance(answer, Unknown):
                    unanswered.append((connection, room_id))
                elif isinstance(answer, NotVisible) and self.hub.end_subscription(
                    connection, room_id, "access_lost"
                ):
                    ended += 1
            pending = unanswered
            if not pending:
                break
        if ended or pending:
            log.info("realtime_recheck_done", ended=ended, unchecked=len(pending))
        return ended

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- access -----------------------------------------------------------------
    async def check_access(self, room_id: uuid.UUID, profile_id: uuid.UUID) -> RoomAnswer:
        """The room-access policy's answer; a failure of the check itself is
        Unknown ("try again"), never a dropped connection."""
        try:
            return await self.access.check(room_id, profile_id, "WS_SUBSCRIBE_ACCESS")
        except Exception as exc:
            log.warning("realtime_access_check_failed", error=repr(exc))
            return Unknown("the access check failed")
