"""Starting and stopping realtime delivery with the app (called from the
lifespan in `parley.app`): builds the hub, the transport and the service and
registers the service as the app's `RoomEvents`.

Starting never waits for PostgreSQL: the LISTEN connection is made in the
background, so the app starts (and delivers in-process) with the database down.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.realtime.config import RealtimeConfig
from parley.realtime.events import ROOM_EVENTS
from parley.realtime.hub import Hub
from parley.realtime.redact import install_token_redaction
from parley.realtime.schemas import CloseCode
from parley.realtime.service import RealtimeService
from parley.realtime.transport import PgNotifyTransport, Transport, asyncpg_dsn
from parley.state import AppState

REALTIME = "realtime"


@dataclass
class Realtime:
    config: RealtimeConfig
    hub: Hub
    transport: Transport
    service: RealtimeService


async def start_realtime(
    state: AppState,
    config: RealtimeConfig | None = None,
    transport: Transport | None = None,
) -> Realtime:
    install_token_redaction()
    config = config or RealtimeConfig.from_settings(state.settings)
    transport = transport or PgNotifyTransport(
        asyncpg_dsn(state.settings.database_url.get_secret_value()), config
    )
    hub = Hub()
    service = RealtimeService(state, hub, transport)
    await transport.start(service.receive, service.transport_restored)
    realtime = Realtime(config, hub, transport, service)
    state.extras[REALTIME] = realtime
    state.extras[ROOM_EVENTS] = service
    return realtime


async def stop_realtime(state: AppState) -> None:
    realtime: Realtime | None = state.extras.pop(REALTIME, None)
    state.extras.pop(ROOM_EVENTS, None)
    if realtime is None:
        return
    realtime.hub.end_all(CloseCode.GOING_AWAY, "server shutting down")
    await realtime.service.close()
    await realtime.transport.stop()
