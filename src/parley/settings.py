"""Parley's configuration, read from the environment and an optional `.env` file.

Every setting has a default that works with `make run`; production sets at least
`DATABASE_URL`, `MONGO_URL` and `PARLEY_JWT_SECRET`. A bad value stops startup
with one line naming the variable (see `ConfigError`), never a traceback, and
never the value.

The three secrets (the JWT key and the two URLs, which carry passwords) are
`SecretStr`: their repr is `'**********'`, so no log line, traceback or error
message built from the settings can show them. Read one with
`.get_secret_value()` only where it is handed to a driver or a signer.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

JWT_SECRET_MIN = 32
# The drivers' own timeouts (socket, command, commit) are this many deadlines,
# and at least MIN_BACKSTOP seconds unless a caller sets its own floor
# (`driver_backstop`): a backstop for work the app has already stopped waiting
# for, never the limit a caller sees.
DRIVER_TIMEOUT_FACTOR = 4
MIN_BACKSTOP = 2.0
LAST_STORE_DEADLINE = 1.0


def driver_backstop(deadline: float, floor: float = MIN_BACKSTOP) -> float:
    """The drivers' own timeout for calls whose deadline is `deadline`."""
    return max(deadline * DRIVER_TIMEOUT_FACTOR, floor)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: SecretStr = Field(validation_alias="DATABASE_URL")
    mongo_url: SecretStr = Field(validation_alias="MONGO_URL")
    # HS256 key; PyJWT warns below 32 bytes (RFC 7518 asks for the hash size).
    jwt_secret: SecretStr = Field(validation_alias="PARLEY_JWT_SECRET")
    # Keys that still verify tokens but no longer sign them (key rotation).
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias="PARLEY_JWT_PREVIOUS_SECRETS"
    )
    jwt_expiry_seconds: int = Field(
        default=7 * 24 * 3600, validation_alias="PARLEY_JWT_EXPIRY_SECONDS", gt=0
    )
    # Deadlines, in seconds. Each database call gets one; none may exceed a second
    # by default so that a frozen server costs a request milliseconds, not the
    # driver's 30-second default.
    db_deadline: float = Field(default=0.5, validation_alias="PARLEY_DB_DEADLINE", gt=0, le=30)
    # A DM call to the last store standing (the other store's breaker is not
    # closed) gets this instead: missing it is a 503, not a fallback. Unset:
    # `last_store_seconds`.
    last_store_deadline: float | None = Field(
        default=None, validation_alias="PARLEY_LAST_STORE_DEADLINE", gt=0
    )
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
    # The change feed re-serves this much before a cursor's high-water mark: a
    # bound on clock skew between instances plus the time from a change's
    # `updatedAt` to its commit (docs/API.md, "Change feed").
    changes_overlap: float = Field(
        default=5.0, validation_alias="PARLEY_CHANGES_OVERLAP", ge=0, le=3600
    )
    # The circuit breaker (resilience4j's model; docs/OPERATIONS.md explains
    # "slow" and "down" and how to tune these): over the last `breaker_window`
    # calls, once `breaker_minimum_calls` were made, it opens when the failure
    # rate or the slow-call rate (percent) reaches its threshold; it stays open
    # `breaker_open_wait` seconds, then lets `breaker_half_open_calls` trial calls
    # decide between closing and opening again.
    breaker_window: int = Field(default=10, validation_alias="PARLEY_BREAKER_WINDOW", ge=1)
    breaker_minimum_calls: int = Field(default=5, validation_alias="PARLEY_BREAKER_MIN_CALLS", ge=1)
    breaker_failure_rate: float = Field(
        default=50, validation_alias="PARLEY_BREAKER_FAILURE_RATE", gt=0, le=100
    )
    breaker_slow_call_rate: float = Field(
        default=100, validation_alias="PARLEY_BREAKER_SLOW_RATE", gt=0, le=100
    )
    breaker_slow_call_duration: float = Field(
        default=0.5, validation_alias="PARLEY_BREAKER_SLOW_CALL", gt=0, le=60
    )
    breaker_open_wait: float = Field(
        default=1.0, validation_alias="PARLEY_BREAKER_OPEN_WAIT", ge=0, le=300
    )
    breaker_half_open_calls: int = Field(
        default=3, validation_alias="PARLEY_BREAKER_HALF_OPEN_CALLS", ge=1
    )
    breaker_probe_interval: float = Field(
        default=0.25, validation_alias="PARLEY_BREAKER_PROBE_INTERVAL", gt=0
    )
    replay_interval: float = Field(default=0.5, validation_alias="PARLEY_REPLAY_INTERVAL", gt=0)
    replay_batch_size: int = Field(default=500, validation_alias="PARLEY_REPLAY_BATCH", ge=1)
    pg_pool_size: int = Field(default=20, validation_alias="PARLEY_PG_POOL_SIZE", ge=1)
    mongo_pool_size: int = Field(default=20, validation_alias="PARLEY_MONGO_POOL_SIZE", ge=1)
    # MongoDB's write concern (docs/OPERATIONS.md, "MongoDB write concern"):
    # "majority" or a number of members (at least 1: an unacknowledged write
    # could not be told from a failed one), journaled unless turned off. A write
    # MongoDB cannot acknowledge this way is a failure of MongoDB, replayed later.
    mongo_write_concern: str = Field(
        default="majority", validation_alias="PARLEY_MONGO_WRITE_CONCERN"
    )
    mongo_journal: bool = Field(default=True, validation_alias="PARLEY_MONGO_JOURNAL")
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
    ws_max_frame_chars: int = Field(
        default=4096, validation_alias="PARLEY_WS_MAX_FRAME_CHARS", ge=64, le=1_048_576
    )
    # Request limits, checked before anything is parsed (docs/SECURITY.md).
    max_body_bytes: int = Field(
        default=64 * 1024, validation_alias="PARLEY_MAX_BODY_BYTES", ge=1024
    )
    max_url_bytes: int = Field(default=4096, validation_alias="PARLEY_MAX_URL_BYTES", ge=256)
    max_header_bytes: int = Field(default=8192, validation_alias="PARLEY_MAX_HEADER_BYTES", ge=1024)
    max_json_depth: int = Field(default=32, validation_alias="PARLEY_MAX_JSON_DEPTH", ge=2, le=500)
    # Password hashing: argon2id hashes at once per instance (64 MiB each) and
    # how many more may wait before sign-ins are refused with 503 Overloaded.
    hash_concurrency: int = Field(default=2, validation_alias="PARLEY_HASH_CONCURRENCY", ge=1)
    hash_queue: int = Field(default=64, validation_alias="PARLEY_HASH_QUEUE", ge=0)
    # API requests one process works on at once; beyond it 503 at once (shedding).
    max_in_flight: int = Field(default=64, validation_alias="PARLEY_MAX_IN_FLIGHT", ge=1)
    # Sign-in throttling, in the `limits` notation ("5/minute"); see docs/SECURITY.md.
    login_limit_account_ip: str = Field(
        default="5/minute", validation_alias="PARLEY_LOGIN_LIMIT_ACCOUNT_IP"
    )
    login_limit_account: str = Field(
        default="20/hour", validation_alias="PARLEY_LOGIN_LIMIT_ACCOUNT"
    )
    login_limit_ip: str = Field(default="30/minute", validation_alias="PARLEY_LOGIN_LIMIT_IP")
    register_limit_ip: str = Field(default="10/hour", validation_alias="PARLEY_REGISTER_LIMIT_IP")
    ws_connect_limit_ip: str = Field(
        default="60/minute", validation_alias="PARLEY_WS_CONNECT_LIMIT_IP"
    )
    # Failed logins per account from any address before each further attempt
    # waits (the slow-down before the lock of `login_limit_account`).
    login_slowdown_account: str = Field(
        default="5/minute", validation_alias="PARLEY_LOGIN_SLOWDOWN_ACCOUNT"
    )
    ws_connect_limit_account: str = Field(
        default="30/minute", validation_alias="PARLEY_WS_CONNECT_LIMIT_ACCOUNT"
    )
    # Message sends, and edits plus deletes, per account and per client address.
    send_limit_account: str = Field(
        default="120/minute", validation_alias="PARLEY_SEND_LIMIT_ACCOUNT"
    )
    send_limit_ip: str = Field(default="600/minute", validation_alias="PARLEY_SEND_LIMIT_IP")
    edit_limit_account: str = Field(
        default="60/minute", validation_alias="PARLEY_EDIT_LIMIT_ACCOUNT"
    )
    edit_limit_ip: str = Field(default="300/minute", validation_alias="PARLEY_EDIT_LIMIT_IP")
    # Seconds a check may wait for the shared counters (PostgreSQL) before this
    # instance decides alone from its own counts (docs/SECURITY.md).
    rate_limit_deadline: float = Field(
        default=0.1, validation_alias="PARLEY_RATE_LIMIT_DEADLINE", gt=0, le=5
    )
    # Seconds between an instance's looks for sessions logged out elsewhere.
    revocation_poll_interval: float = Field(
        default=2.0, validation_alias="PARLEY_REVOCATION_POLL_INTERVAL", gt=0, le=60
    )
    # Browser origins allowed to call the API cross-origin (CORS); none by default.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="PARLEY_CORS_ORIGINS"
    )
    # Anti-entropy (docs/OPERATIONS.md): the background verifier walks every DM
    # conversation, at most `antientropy_rate` a second and working at most
    # `antientropy_duty` of the time, one instance at a time.
    antientropy_enabled: bool = Field(default=True, validation_alias="PARLEY_ANTIENTROPY")
    antientropy_repair: bool = Field(default=True, validation_alias="PARLEY_ANTIENTROPY_REPAIR")
    antientropy_rate: float = Field(default=50.0, validation_alias="PARLEY_ANTIENTROPY_RATE", gt=0)
    # The share of time the walk may spend working; after a slow step it waits longer.
    antientropy_duty: float = Field(
        default=0.1, validation_alias="PARLEY_ANTIENTROPY_DUTY", gt=0, le=1
    )
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

    @field_validator("jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < JWT_SECRET_MIN:
            raise ValueError(f"must be at least {JWT_SECRET_MIN} characters")
        return value

    @field_validator("jwt_previous_secrets", mode="before")
    @classmethod
    def _split_previous_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("jwt_previous_secrets")
    @classmethod
    def _check_previous_secrets(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            cls._check_jwt_secret(key)
        return keys

    @field_validator("last_store_deadline")
    @classmethod
    def _check_last_store_deadline(cls, value: float | None, info: ValidationInfo) -> float | None:
        deadline = info.data.get("db_deadline")
        if value is None or deadline is None:
            return value
        if not deadline <= value <= driver_backstop(deadline):
            raise ValueError(
                "must be between PARLEY_DB_DEADLINE and the drivers' backstop,"
                f" max({DRIVER_TIMEOUT_FACTOR} x PARLEY_DB_DEADLINE, {MIN_BACKSTOP:g} s)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        parts = urlsplit(value)
        if parts.scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError("must start with postgresql://")
        if not parts.hostname:
            raise ValueError("has no host")
        if not parts.path.strip("/"):
            raise ValueError("has no database name in its path")
        return secret

    @field_validator("mongo_url")
    @classmethod
    def _check_mongo_url(cls, secret: SecretStr) -> SecretStr:
        parts = urlsplit(secret.get_secret_value())
        if parts.scheme not in {"mongodb", "mongodb+srv"}:
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        if not parts.netloc.rsplit("@", 1)[-1]:
            raise ValueError("has no host")
        return secret

    @field_validator("mongo_write_concern")
    @classmethod
    def _check_write_concern(cls, value: str) -> str:
        if value == "majority":
            return value
        if not value.isdigit() or int(value) < 1:
            raise ValueError("must be majority or a number of members, at least 1")
        return str(int(value))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if origin == "*" or parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
            if parts.path not in ("", "/") or parts.query or parts.username:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return [origin.rstrip("/") for origin in origins]

    @field_validator(
        "login_limit_account_ip",
        "login_limit_account",
        "login_limit_ip",
        "register_limit_ip",
        "ws_connect_limit_ip",
        "login_slowdown_account",
        "ws_connect_limit_account",
        "send_limit_account",
        "send_limit_ip",
        "edit_limit_account",
        "edit_limit_ip",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            item = parse_limit(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate like 5/minute or 20/hour") from None
        if item.amount < 1:
            raise ValueError(f"{value!r} allows nothing; the smallest rate is 1/day")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @property
    def driver_backstop(self) -> float:
        """Seconds the drivers themselves allow a call (socket and command
        timeouts): `driver_backstop(PARLEY_DB_DEADLINE)`."""
        return driver_backstop(self.db_deadline)

    @property
    def last_store_seconds(self) -> float:
        """The deadline of a DM call to the last store standing:
        `PARLEY_LAST_STORE_DEADLINE`, or when unset 1 s (PARLEY_DB_DEADLINE if
        that is longer)."""
        if self.last_store_deadline is not None:
            return self.last_store_deadline
        return max(LAST_STORE_DEADLINE, self.db_deadline)

    @cached_property
    def sqlalchemy_url(self) -> SecretStr:
        """The `DATABASE_URL` with the asyncpg driver SQLAlchemy needs."""
        _, rest = self.database_url.get_secret_value().split("://", 1)
        return SecretStr(f"postgresql+asyncpg://{rest}")

    @cached_property
    def mongo_database(self) -> str:
        """The database named in `MONGO_URL`'s path, `parley` when it names none."""
        return urlsplit(self.mongo_url.get_secret_value()).path.strip("/") or "parley"

    @property
    def mongo_w(self) -> str | int:
        """The write concern's `w` as the driver takes it."""
        w = self.mongo_write_concern
        return w if w == "majority" else int(w)

    def jwt_verification_keys(self) -> list[str]:
        """The signing key first, then the previous keys still accepted."""
        return [key.get_secret_value() for key in (self.jwt_secret, *self.jwt_previous_secrets)]

    def secret_values(self) -> list[str]:
        """Every secret string in the settings (the keys, the URLs and the
        passwords inside them), for log redaction."""
        values = self.jwt_verification_keys()
        for url in (self.database_url, self.mongo_url):
            raw = url.get_secret_value()
            values.append(raw)
            try:
                password = urlsplit(raw).password
            except ValueError:
                password = None
            if password:
                values.append(password)
        return [value for value in values if len(value) >= 4]


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
