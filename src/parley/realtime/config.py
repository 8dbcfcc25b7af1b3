"""Realtime tunables, in one frozen object built from `Settings` (the
`PARLEY_WS_*` variables, documented in README and docs/REALTIME.md) plus the
fixed values below, which are protocol or transport constants, not settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.settings import Settings

# Largest client frame accepted (characters); docs/REALTIME.md promises it.
MAX_FRAME_CHARS = 4096
# Seconds a close handshake may wait for a slow peer before the server gives up.
CLOSE_TIMEOUT = 5.0
# Buffered events older than this are dropped instead of being sent late.
OUTBOX_MAX_AGE = 30.0
# Seconds between liveness checks of the LISTEN connection.
LISTEN_CHECK_INTERVAL = 2.0
# Reconnect backoff of the LISTEN connection: first delay and cap (seconds).
RECONNECT_MIN_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0


@dataclass(frozen=True)
class RealtimeConfig:
    auth_timeout: float
    send_queue_size: int
    heartbeat_interval: float
    heartbeat_timeout: float
    max_subscriptions: int
    notify_channel: str
    outbox_size: int
    connect_timeout: float
    db_deadline: float
    max_frame_chars: int = MAX_FRAME_CHARS
    close_timeout: float = CLOSE_TIMEOUT
    outbox_max_age: float = OUTBOX_MAX_AGE
    listen_check_interval: float = LISTEN_CHECK_INTERVAL
    reconnect_min_delay: float = RECONNECT_MIN_DELAY
    reconnect_max_delay: float = RECONNECT_MAX_DELAY

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
