"""The `antientropy_state` rows: a lease, so that one background verifier runs
per deployment however many instances there are, and a cursor, so that a walk
interrupted by a crash, a lost lease or Ctrl-C resumes where it stopped.

A lease is a conditional upsert: it is taken when free or expired and renewed
by its holder, all in one statement, so two instances can never both hold it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.storage.postgres.models import AntiEntropyState

_state: Table = AntiEntropyState.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Walk:
    """Where a walk stands: the last conversation done (None: from the start),
    how many it checked, and when its pass began."""

    scope: str
    cursor: uuid.UUID | None
    checked: int
    pass_started_at: datetime


def _in_seconds(seconds: float) -> object:
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def take_lease(session: AsyncSession, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease on walker `name`; False while another holds it."""
    upsert = pg_insert(_state).values(name=name, holder=holder, lease_until=_in_seconds(seconds))
    statement = upsert.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": holder, "lease_until": _in_seconds(seconds)},
        where=(_state.c.holder == holder) | (_state.c.lease_until < func.now()),
    ).returning(_state.c.name)
    return (await session.execute(statement)).first() is not None


async def drop_lease(session: AsyncSession, name: str, holder: str) -> None:
    """Let another instance take over at once (a clean shutdown)."""
    await session.execute(
        update(_state)
        .where(_state.c.name == name, _state.c.holder == holder)
        .values(lease_until=func.now())
    )


async def load_walk(session: AsyncSession, name: str, scope: str) -> Walk:
    """Where walker `name` stopped, if it was walking the same scope; else a
    fresh walk (a different `--room` or `--since` does not resume another's)."""
    row = (
        await session.execute(_state.select().where(_state.c.name == name, _state.c.scope == scope))
    ).first()
    if row is None:
        now = (await session.execute(func.now().select())).scalar_one()
        return Walk(scope, None, 0, now)
    return Walk(scope, row.cursor, row.checked, row.pass_started_at)


async def save_walk(session: AsyncSession, name: str, walk: Walk) -> None:
    upsert = pg_insert(_state).values(
        name=name,
        scope=walk.scope,
        cursor=walk.cursor,
        checked=walk.checked,
        pass_started_at=walk.pass_started_at,
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "scope": walk.scope,
                "cursor": walk.cursor,
                "checked": walk.checked,
                "pass_started_at": walk.pass_started_at,
            },
        )
    )
