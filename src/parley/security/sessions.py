"""Revocable sessions without a database round trip per request.

Every token carries a session id (`sid`). Logging out writes the id to
PostgreSQL (`revoked_sessions`) and to this instance's `RevocationList` at
once; every instance polls the table every `PARLEY_REVOCATION_POLL_INTERVAL`
seconds (2 by default) for rows revoked since its last look and keeps the
unexpired ids in memory, so checking a token is a set lookup.

While PostgreSQL is down: tokens keep working (checked against the list as it
was), logging out answers 503, and revocations made before the outage but not
yet seen by an instance reach it when PostgreSQL returns. Rows and ids are
dropped once the token they revoke has expired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.tokens import Claims
from parley.storage.errors import StorageError
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.models import RevokedSession

log = structlog.get_logger("parley.sessions")

# Re-read rows this much older than the newest seen: commits land out of order.
_OVERLAP = timedelta(seconds=30)


class RevocationList:
    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}  # session id -> token expiry (epoch)
        self._seen_until: datetime | None = None

    def __len__(self) -> int:
        return len(self._revoked)

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    def add(self, session_id: str, expires_at: float) -> None:
        self._revoked[session_id] = expires_at

    def prune(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for session_id in [s for s, expiry in self._revoked.items() if expiry <= now]:
            del self._revoked[session_id]

    async def revoke(self, session: AsyncSession, claims: Claims) -> None:
        """SESSION_REVOKE, in the request's unit of work; local at once."""
        await session.execute(
            insert(RevokedSession)
            .values(
                session_id=claims.session_id,
                profile_id=claims.profile_id,
                expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            )
            .on_conflict_do_nothing()
        )
        self.add(claims.session_id, claims.expires_at)

    async def refresh(self, postgres: PostgresDatabase) -> int:
        """SESSIONS_REVOKED_SINCE: load rows revoked since the last look (and
        prune expired ones); returns how many rows were read."""
        since = (self._seen_until - _OVERLAP) if self._seen_until else None
        async with postgres.unit_of_work("SESSIONS_REVOKED_SINCE") as session:
            query = select(
                RevokedSession.session_id, RevokedSession.expires_at, RevokedSession.revoked_at
            ).where(RevokedSession.expires_at > datetime.now(UTC))
            if since is not None:
                query = query.where(RevokedSession.revoked_at > since)
            rows = (await session.execute(query)).all()
            await session.execute(
                delete(RevokedSession).where(RevokedSession.expires_at <= datetime.now(UTC))
            )
        for session_id, expires_at, revoked_at in rows:
            self.add(session_id, expires_at.timestamp())
            if self._seen_until is None or revoked_at > self._seen_until:
                self._seen_until = revoked_at
        if self._seen_until is None:
            self._seen_until = datetime.now(UTC) - _OVERLAP
        self.prune()
        return len(rows)

    async def poll(self, postgres: PostgresDatabase, interval: float) -> None:
        while True:
            try:
                await self.refresh(postgres)
            except StorageError as exc:
                log.debug("revocations_refresh_failed", error=str(exc))
            await asyncio.sleep(interval)

    @asynccontextmanager
    async def polling(self, postgres: PostgresDatabase, interval: float) -> AsyncIterator[None]:
        task = asyncio.create_task(self.poll(postgres, interval), name="revocations")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
