"""Parley's configuration, read from the environment and an optional `.env` file.

Every setting has a default that works with `make run`; production sets at least
`DATABASE_URL`, `MONGO_URL` and `PARLEY_JWT_SECRET`. A bad value stops startup
with one line naming the variable (see `ConfigError`), never a traceback.
"""

from __future__ import annotations

from functools import cached_property
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(validation_alias="DATABASE_URL")
    mongo_url: str = Field(validation_alias="MONGO_URL")
    jwt_secret: str = Field(validation_alias="PARLEY_JWT_SECRET", min_length=16)
    jwt_expiry_seconds: int = Field(
        default=7 * 24 * 3600, validation_alias="PARLEY_JWT_EXPIRY_SECONDS", gt=0
    )
    # Deadlines, in seconds. Each database call gets one; none may exceed a second
    # by default so that a frozen server costs a request milliseconds, not the
    # driver's 30-second default.
    db_deadline: float = Field(default=0.5, validation_alias="PARLEY_DB_DEADLINE", gt=0, le=30)
    health_deadline: float = Field(
        default=0.4, validation_alias="PARLEY_HEALTH_DEADLINE", gt=0, le=5
    )
    connect_timeout: float = Field(
        default=0.5, validation_alias="PARLEY_CONNECT_TIMEOUT", gt=0, le=30
    )
    # Tail-latency bounds while a store is slow or frozen but its breaker is not
    # yet open: a read also asks the other store after `hedge_delay`; a DM write
    # answers once one store has it and the other has had `write_grace` more.
    hedge_delay: float = Field(default=0.05, validation_alias="PARLEY_HEDGE_DELAY", ge=0, le=5)
    write_grace: float = Field(default=0.1, validation_alias="PARLEY_WRITE_GRACE", ge=0, le=5)
    breaker_failure_threshold: int = Field(
        default=3, validation_alias="PARLEY_BREAKER_FAILURES", ge=1
    )
    breaker_probe_interval: float = Field(
        default=0.25, validation_alias="PARLEY_BREAKER_PROBE_INTERVAL", gt=0
    )
    replay_interval: float = Field(default=0.5, validation_alias="PARLEY_REPLAY_INTERVAL", gt=0)
    replay_batch_size: int = Field(default=500, validation_alias="PARLEY_REPLAY_BATCH", ge=1)
    pg_pool_size: int = Field(default=10, validation_alias="PARLEY_PG_POOL_SIZE", ge=1)
    mongo_pool_size: int = Field(default=20, validation_alias="PARLEY_MONGO_POOL_SIZE", ge=1)
    # Realtime (WebSocket) delivery; see docs/REALTIME.md.
    ws_auth_timeout: float = Field(default=5.0, validation_alias="PARLEY_WS_AUTH_TIMEOUT", gt=0)
    ws_send_queue_size: int = Field(default=512, validation_alias="PARLEY_WS_SEND_QUEUE", ge=1)
    ws_heartbeat_interval: float = Field(
        default=25.0, validation_alias="PARLEY_WS_HEARTBEAT_INTERVAL", gt=0
    )
    ws_heartbeat_timeout: float = Field(
        default=20.0, validation_alias="PARLEY_WS_HEARTBEAT_TIMEOUT", gt=0
    )
    ws_max_subscriptions: int = Field(
        default=1000, validation_alias="PARLEY_WS_MAX_SUBSCRIPTIONS", ge=1
    )
    ws_outbox_size: int = Field(default=10_000, validation_alias="PARLEY_WS_OUTBOX_SIZE", ge=0)
    ws_notify_channel: str = Field(
        default="parley_room_events",
        validation_alias="PARLEY_WS_NOTIFY_CHANNEL",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
    )
    # Anti-entropy (docs/OPERATIONS.md): the background verifier walks every DM
    # conversation at `antientropy_rate` per second, one instance at a time.
    antientropy_enabled: bool = Field(default=True, validation_alias="PARLEY_ANTIENTROPY")
    antientropy_repair: bool = Field(default=True, validation_alias="PARLEY_ANTIENTROPY_REPAIR")
    antientropy_rate: float = Field(default=50.0, validation_alias="PARLEY_ANTIENTROPY_RATE", gt=0)
    antientropy_pause: float = Field(
        default=300.0, validation_alias="PARLEY_ANTIENTROPY_PAUSE", ge=0
    )
    antientropy_lease: float = Field(
        default=30.0, validation_alias="PARLEY_ANTIENTROPY_LEASE", gt=0
    )
    # Versions younger than this are in flight (a dual write or its replay may
    # still be settling): never reported or repaired.
    antientropy_settle: float = Field(
        default=5.0, validation_alias="PARLEY_ANTIENTROPY_SETTLE", ge=0
    )
    log_level: str = Field(default="info", validation_alias="PARLEY_LOG_LEVEL")
    log_json: bool = Field(default=True, validation_alias="PARLEY_LOG_JSON")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError("must start with postgresql://")
        if not parts.hostname:
            raise ValueError("has no host")
        if not parts.path.strip("/"):
            raise ValueError("has no database name in its path")
        return value

    @field_validator("mongo_url")
    @classmethod
    def _check_mongo_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"mongodb", "mongodb+srv"}:
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        if not parts.netloc.rsplit("@", 1)[-1]:
            raise ValueError("has no host")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The `DATABASE_URL` with the asyncpg driver SQLAlchemy needs."""
        scheme, rest = self.database_url.split("://", 1)
        del scheme
        return f"postgresql+asyncpg://{rest}"

    @cached_property
    def mongo_database(self) -> str:
        """The database named in `MONGO_URL`'s path, `parley` when it names none."""
        return urlsplit(self.mongo_url).path.strip("/") or "parley"


_ALIASES = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into a one-line `ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = _ALIASES.get(field, field)
        if error["type"] == "missing":
            raise ConfigError(f"{variable} is not set") from None
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{variable} is invalid: {reason}") from None
