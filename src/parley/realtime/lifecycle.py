"""Realtime delivery as one object the app's lifespan builds, starts and stops:
the hub (this instance's subscriptions), the transport (LISTEN/NOTIFY between
instances) and the service that publishes to both.

Starting never waits for PostgreSQL: the LISTEN connection is made in the
background, so the app starts (and delivers in-process) with the database down.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.realtime.config import RealtimeConfig
from parley.realtime.hub import Hub
from parley.realtime.redact import install_token_redaction
from parley.realtime.schemas import CloseCode
from parley.realtime.service import MessageSource, RealtimeService
from parley.realtime.transport import PgNotifyTransport, Transport, asyncpg_dsn
from parley.resilience import Metrics, Supervisor
from parley.rooms.access import RoomAccessPolicy
from parley.settings import Settings


@dataclass
class Realtime:
    config: RealtimeConfig
    hub: Hub
    transport: Transport
    service: RealtimeService
    supervisor: Supervisor
    stopped: bool = False

    @classmethod
    def build(
        cls,
        settings: Settings,
        access: RoomAccessPolicy,
        messages: MessageSource,
        instance_id: str,
        metrics: Metrics,
    ) -> Realtime:
        config = RealtimeConfig.from_settings(settings)
        supervisor = Supervisor(metrics)
        dsn = asyncpg_dsn(settings.database_url.get_secret_value())
        transport = PgNotifyTransport(dsn, config, supervisor)
        hub = Hub()
        service = RealtimeService(hub, transport, access, messages, instance_id)
        return cls(config, hub, transport, service, supervisor)

    async def start(self) -> None:
        install_token_redaction()
        await self.transport.start(self.service.receive, self.service.transport_restored)

    async def stop(self) -> None:
        """Close every connection with 1001 and stop listening; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        self.hub.end_all(CloseCode.GOING_AWAY, "server shutting down")
        await self.service.close()
        await self.transport.stop()
