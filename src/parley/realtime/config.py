"""Realtime tunables: read from `Settings` when it has them, module defaults
otherwise (the settings fields are optional so that this package does not force
a settings change; see docs/REALTIME.md for the environment variables).

Tests change the module constants (monkeypatch) before an app starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.settings import Settings

# Seconds a new connection has to authenticate before it is closed with 4008.
AUTH_TIMEOUT = 5.0
# Frames waiting to be written to one connection; a client that lets this fill
# up is cut off with 4009 instead of growing the server's memory.
SEND_QUEUE_SIZE = 512
# After this many seconds without a frame from the client the server sends
# `{"type": "ping"}`; without any frame within HEARTBEAT_TIMEOUT more, 4010.
HEARTBEAT_INTERVAL = 25.0
HEARTBEAT_TIMEOUT = 20.0
# Rooms one connection may be subscribed to at once.
MAX_SUBSCRIPTIONS = 1000
# Largest client frame accepted (characters).
MAX_FRAME_CHARS = 4096
# Seconds a close handshake may wait for a slow peer before the server gives up.
CLOSE_TIMEOUT = 5.0
# The PostgreSQL LISTEN/NOTIFY channel shared by all instances.
NOTIFY_CHANNEL = "parley_room_events"
# Events kept for other instances while PostgreSQL is unreachable (oldest dropped).
OUTBOX_SIZE = 10_000
# Buffered events older than this are dropped instead of being sent late.
OUTBOX_MAX_AGE = 30.0
# Seconds between liveness checks of the LISTEN connection.
LISTEN_CHECK_INTERVAL = 2.0
# Reconnect backoff of the LISTEN connection: first delay and cap (seconds).
RECONNECT_MIN_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0


@dataclass(frozen=True)
class RealtimeConfig:
    auth_timeout: float = AUTH_TIMEOUT
    send_queue_size: int = SEND_QUEUE_SIZE
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT
    max_subscriptions: int = MAX_SUBSCRIPTIONS
    max_frame_chars: int = MAX_FRAME_CHARS
    close_timeout: float = CLOSE_TIMEOUT
    notify_channel: str = NOTIFY_CHANNEL
    outbox_size: int = OUTBOX_SIZE
    outbox_max_age: float = OUTBOX_MAX_AGE
    listen_check_interval: float = LISTEN_CHECK_INTERVAL
    reconnect_min_delay: float = RECONNECT_MIN_DELAY
    reconnect_max_delay: float = RECONNECT_MAX_DELAY
    connect_timeout: float = 0.5
    db_deadline: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> RealtimeConfig:
        return cls(
            auth_timeout=settings.ws_auth_timeout,
            send_queue_size=settings.ws_send_queue_size,
            heartbeat_interval=settings.ws_heartbeat_interval,
            heartbeat_timeout=settings.ws_heartbeat_timeout,
            max_subscriptions=settings.ws_max_subscriptions,
            max_frame_chars=settings.ws_max_frame_chars,
            notify_channel=settings.ws_notify_channel,
            outbox_size=settings.ws_outbox_size,
            connect_timeout=settings.connect_timeout,
            db_deadline=settings.db_deadline,
        )
