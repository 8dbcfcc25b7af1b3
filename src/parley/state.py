"""The objects built once per process in the app's lifespan (`parley.app`) and
handed to handlers through typed dependencies (`parley.deps`). Every field is
required: a piece that was not built is a startup error, never a silent no-op.
No import-time globals."""

from __future__ import annotations

from dataclasses import dataclass

from parley.realtime.events import RoomEvents
from parley.realtime.lifecycle import Realtime
from parley.replication.antientropy import AntiEntropy
from parley.replication.runtime import Replication
from parley.rooms.access import RoomAccessPolicy
from parley.security.sessions import RevocationList
from parley.security.throttle import Throttle
from parley.settings import Settings
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.rate_limits import PostgresRateWindows


@dataclass
class AppState:
    # This process's id: in realtime envelopes (to skip its own echo), in
    # `/api/health` and in the WebSocket's `authenticated` frame.
    instance_id: str
    settings: Settings
    postgres: PostgresDatabase
    mongo: MongoDatabase
    replication: Replication
    # The background verifier (started only when PARLEY_ANTIENTROPY is true).
    antientropy: AntiEntropy
    access: RoomAccessPolicy
    realtime: Realtime
    # Where services publish message and access events: the realtime service
    # (tests put a recorder here).
    events: RoomEvents
    # Revoked sessions, kept current by a poller in the lifespan.
    revocations: RevocationList
    # Rate-limit counters shared by every instance (PostgreSQL, an engine of
    # their own), and the rate limits built on them (local while it is down).
    rate_windows: PostgresRateWindows
    throttle: Throttle
