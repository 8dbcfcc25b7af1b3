"""The in-process subscription registry of one app instance: which connection
listens to which room, and fan-out of rendered frames to them.

Everything here is synchronous and runs on the event loop, so one call to
`deliver` enqueues a frame on every subscriber before any other event can: per
room, subscribers see events in the order the hub received them. The hub does
not check access (the frame handler does, before `subscribe`) and does no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from parley.realtime.connection import Connection
from parley.realtime.schemas import CloseCode, resync_frame, subscription_ended_frame


class Hub:
    def __init__(self) -> None:
        self._rooms: dict[uuid.UUID, dict[Connection, None]] = {}
        self._connections: dict[Connection, None] = {}
        # Bumped by every revocation, so a subscribe whose access check raced
        # with one can tell and check again.
        self.revocations = 0

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    @property
    def subscription_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._rooms.values())

    def has_subscribers(self, room_id: uuid.UUID) -> bool:
        return room_id in self._rooms

    def attach(self, connection: Connection) -> None:
        self._connections[connection] = None

    def detach(self, connection: Connection) -> None:
        self._connections.pop(connection, None)
        for room_id in list(connection.rooms):
            self.unsubscribe(connection, room_id)

    def subscribe(self, connection: Connection, room_id: uuid.UUID) -> None:
        self._rooms.setdefault(room_id, {})[connection] = None
        connection.rooms.add(room_id)

    def unsubscribe(self, connection: Connection, room_id: uuid.UUID) -> bool:
        connection.rooms.discard(room_id)
        subscribers = self._rooms.get(room_id)
        if subscribers is None or connection not in subscribers:
            return False
        del subscribers[connection]
        if not subscribers:
            del self._rooms[room_id]
        return True

    def deliver(self, room_id: uuid.UUID, frame: str) -> int:
        """Queue `frame` for every subscriber of `room_id`; returns how many."""
        subscribers = self._rooms.get(room_id)
        if not subscribers:
            return 0
        # A full queue ends (and later detaches) a connection: iterate a copy.
        targets = list(subscribers)
        for connection in targets:
            connection.offer(frame)
        return len(targets)

    def revoke(
        self, room_ids: Iterable[uuid.UUID], profile_id: uuid.UUID | None, reason: str
    ) -> int:
        """End subscriptions to `room_ids` of `profile_id` (everyone's when None),
        telling each connection so; returns how many ended."""
        self.revocations += 1
        ended = 0
        for room_id in room_ids:
            for connection in list(self._rooms.get(room_id, ())):
                if profile_id is None or connection.profile_id == profile_id:
                    self.unsubscribe(connection, room_id)
                    connection.offer(subscription_ended_frame(room_id, reason))
                    ended += 1
        return ended

    def subscriptions(self) -> list[tuple[Connection, uuid.UUID]]:
        """A snapshot of every (connection, room) subscription."""
        return [(c, room_id) for room_id, subs in self._rooms.items() for c in subs]

    def end_subscription(self, connection: Connection, room_id: uuid.UUID, reason: str) -> bool:
        """End one subscription, telling the connection; False if it had none."""
        self.revocations += 1
        if not self.unsubscribe(connection, room_id):
            return False
        connection.offer(subscription_ended_frame(room_id, reason))
        return True

    def resync_all(self, reason: str) -> int:
        """Tell every subscription that events may have been missed."""
        count = 0
        for room_id, subscribers in list(self._rooms.items()):
            frame = resync_frame(room_id, reason)
            for connection in list(subscribers):
                connection.offer(frame)
                count += 1
        return count

    def end_all(self, code: CloseCode, reason: str) -> None:
        for connection in list(self._connections):
            connection.end(code, reason)
