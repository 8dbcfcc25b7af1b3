"""Revocable sessions without a database round trip per request.

Every token carries a session id (`sid`) and its issue time in milliseconds
(`ims`). Two kinds of revocation, both written to PostgreSQL and applied to
this instance's `RevocationList` at once:

    logout          revoked_sessions  (sid)                one token
    logout-all,     session_cutoffs   (profile, not_before) every token of the
    password change                                        profile issued before

Every instance polls both tables every `PARLEY_REVOCATION_POLL_INTERVAL`
seconds (2 by default) for rows changed since its last look and keeps the live
ones in memory, so checking a token is two dictionary lookups.

While PostgreSQL is down: tokens keep working (checked against the list as it
was), revoking answers 503, and revocations made before the outage but not yet
seen by an instance reach it when PostgreSQL returns. Rows and entries are
dropped once every token they could revoke has expired. Open WebSockets wait
on `wait_for_change` and close (4001) when their own session is revoked.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.tokens import Claims
from parley.storage.errors import StorageError
from parley.storage.postgres.database import PostgresDatabase
from parley.storage.postgres.models import RevokedSession, SessionCutoff

log = structlog.get_logger("parley.sessions")

# Re-read rows this much older than the newest seen: commits land out of order.
_OVERLAP = timedelta(seconds=30)


def _now() -> datetime:
    return datetime.now(UTC)


class RevocationList:
    def __init__(self) -> None:
        self._sessions: dict[str, float] = {}  # session id -> token expiry (epoch s)
        self._cutoffs: dict[uuid.UUID, tuple[int, float]] = {}  # -> (not_before_ms, expiry)
        self._seen_until: datetime | None = None
        self._changed = asyncio.Event()

    async def wait_for_change(self) -> None:
        """Return after the next revocation this instance learns of."""
        await self._changed.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def is_revoked(self, claims: Claims) -> bool:
        if claims.session_id in self._sessions:
            return True
        cutoff = self._cutoffs.get(claims.profile_id)
        return cutoff is not None and claims.issued_at_ms < cutoff[0]

    def add_session(self, session_id: str, expires_at: float) -> None:
        if session_id not in self._sessions:
            self._sessions[session_id] = expires_at
            self._notify()

    def add_cutoff(self, profile_id: uuid.UUID, not_before_ms: int, expires_at: float) -> None:
        known = self._cutoffs.get(profile_id)
        if known is None or known[0] < not_before_ms:
            self._cutoffs[profile_id] = (not_before_ms, expires_at)
            self._notify()

    def prune(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for session_id in [s for s, expiry in self._sessions.items() if expiry <= now]:
            del self._sessions[session_id]
        for profile_id in [p for p, (_, expiry) in self._cutoffs.items() if expiry <= now]:
            del self._cutoffs[profile_id]

    async def revoke(self, session: AsyncSession, claims: Claims) -> None:
        """SESSION_REVOKE: this token, in the request's unit of work; local at once."""
        await session.execute(
            insert(RevokedSession)
            .values(
                session_id=claims.session_id,
                profile_id=claims.profile_id,
                expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            )
            .on_conflict_do_nothing()
        )
        self.add_session(claims.session_id, claims.expires_at)

    async def revoke_all(
        self, session: AsyncSession, profile_id: uuid.UUID, max_lifetime: float
    ) -> int:
        """SESSIONS_REVOKE_ALL: every token of the profile issued until now;
        returns the cutoff (epoch ms). A token issued from now on survives."""
        not_before_ms = int(time.time() * 1000)
        expires = time.time() + max_lifetime
        statement = insert(SessionCutoff).values(
            profile_id=profile_id,
            not_before_ms=not_before_ms,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[SessionCutoff.profile_id],
                set_={
                    "not_before_ms": func.greatest(
                        SessionCutoff.not_before_ms, statement.excluded.not_before_ms
                    ),
                    "expires_at": statement.excluded.expires_at,
                    "updated_at": func.now(),
                },
            )
        )
        self.add_cutoff(profile_id, not_before_ms, expires)
        return not_before_ms

    async def refresh(self, postgres: PostgresDatabase) -> None:
        """SESSIONS_REVOKED_SINCE: load rows changed since the last look and
        prune expired ones."""
        since = (self._seen_until - _OVERLAP) if self._seen_until else None
        async with postgres.unit_of_work("SESSIONS_REVOKED_SINCE") as session:
            revoked = select(
                RevokedSession.session_id, RevokedSession.expires_at, RevokedSession.revoked_at
            ).where(RevokedSession.expires_at > _now())
            cutoffs = select(
                SessionCutoff.profile_id,
                SessionCutoff.not_before_ms,
                SessionCutoff.expires_at,
                SessionCutoff.updated_at,
            ).where(SessionCutoff.expires_at > _now())
            if since is not None:
                revoked = revoked.where(RevokedSession.revoked_at > since)
                cutoffs = cutoffs.where(SessionCutoff.updated_at > since)
            session_rows = (await session.execute(revoked)).all()
            cutoff_rows = (await session.execute(cutoffs)).all()
            await session.execute(delete(RevokedSession).where(RevokedSession.expires_at <= _now()))
            await session.execute(delete(SessionCutoff).where(SessionCutoff.expires_at <= _now()))
        newest = [self._seen_until] if self._seen_until else []
        for session_id, expires_at, revoked_at in session_rows:
            self.add_session(session_id, expires_at.timestamp())
            newest.append(revoked_at)
        for profile_id, not_before_ms, expires_at, updated_at in cutoff_rows:
            self.add_cutoff(profile_id, not_before_ms, expires_at.timestamp())
            newest.append(updated_at)
        self._seen_until = max(newest) if newest else _now() - _OVERLAP
        self.prune()

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
