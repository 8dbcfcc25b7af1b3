"""One walk over the DMs in scope, batch by batch, for `parley verify`,
`parley repair` and the background verifier alike.

A walk with a checkpoint name saves its cursor in PostgreSQL
(`antientropy_state`) after every batch, so an interrupted repair, or a
background pass whose instance died, resumes after the last conversation it
finished instead of starting over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from parley.replication.divergence import Divergence, Report
from parley.replication.verify import DEADLINE, Scope, Verifier
from parley.resilience import StoreGuard
from parley.storage.postgres import antientropy_state
from parley.storage.postgres.antientropy_state import Walk

OnFound = Callable[[list[Divergence]], Awaitable[None]]
OnProgress = Callable[[int, int], None]


class Checkpoint:
    """Where the walk named `name` stands, kept in PostgreSQL."""

    def __init__(self, postgres: StoreGuard[Any], name: str) -> None:
        self.postgres = postgres
        self.name = name

    async def load(self, scope: Scope) -> Walk:
        walk: Walk = await self.postgres.run(
            "ANTIENTROPY_LOAD_WALK",
            partial(antientropy_state.load_walk, name=self.name, scope=scope.key()),
            deadline=DEADLINE,
        )
        return walk

    async def save(self, walk: Walk) -> None:
        await self.postgres.run(
            "ANTIENTROPY_SAVE_WALK",
            partial(antientropy_state.save_walk, name=self.name, walk=walk),
            deadline=DEADLINE,
        )


async def walk(
    verifier: Verifier,
    scope: Scope,
    *,
    on_found: OnFound | None = None,
    on_progress: OnProgress | None = None,
    checkpoint: Checkpoint | None = None,
) -> Report:
    """Check every conversation in scope, then (for a whole-deployment walk)
    the mirror; `on_found` gets each batch's divergences (repair fixes them
    there, before the cursor moves past them)."""
    report = Report()
    position = await checkpoint.load(scope) if checkpoint else None
    after = position.cursor if position else None
    done = position.checked if position else 0
    total = await verifier.total(scope)
    while batch := await verifier.conversations(scope, after):
        found = await verifier.check(batch, scope)
        report.add(found)
        if on_found and found:
            await on_found(found)
        after, done = batch[-1], done + len(batch)
        report.conversations += len(batch)
        if checkpoint and position:
            await checkpoint.save(replace(position, cursor=after, checked=done))
        if on_progress:
            on_progress(done, total)
    if scope.room is None:
        mirror = await verifier.check_mirror()
        report.add(mirror)
        if on_found and mirror:
            await on_found(mirror)
    if checkpoint and position:
        await checkpoint.save(replace(position, cursor=None, checked=0))
    report.finished = True
    return report
