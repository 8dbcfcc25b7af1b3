"""Which stores a read must not trust alone: the backlog's view, and its age."""

from __future__ import annotations

import uuid

from parley.replication.backlog import Backlog
from parley.resilience import MONGODB, POSTGRESQL
from tests.unit.resilience_fakes import Clock

ROOM = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)


def fresh(clock: Clock) -> Backlog:
    backlog = Backlog(max_age=2.0, clock=clock)
    backlog.replace(MONGODB, set(), clock.now)
    backlog.replace(POSTGRESQL, {OTHER}, clock.now)
    return backlog


def test_a_fresh_view_names_only_the_stores_that_missed_the_room() -> None:
    clock = Clock()
    backlog = fresh(clock)
    clock.now += 1.9
    assert backlog.behind(ROOM) == set()
    assert backlog.behind(OTHER) == {POSTGRESQL}


def test_before_the_first_refresh_every_store_may_be_behind() -> None:
    assert Backlog(max_age=2.0, clock=Clock()).behind(ROOM) == {MONGODB, POSTGRESQL}


def test_after_a_pause_every_store_may_be_behind_until_refreshed() -> None:
    clock = Clock()
    backlog = fresh(clock)
    clock.now += 5.0  # the process was frozen
    assert backlog.behind(ROOM) == {MONGODB, POSTGRESQL}
    backlog.replace(POSTGRESQL, set(), clock.now)
    assert backlog.behind(ROOM) == {MONGODB}


def test_a_failed_refresh_counts_as_an_attempt() -> None:
    """The store holding the queue is down: the view cannot get better, and
    reads go on from it rather than wait for that store."""
    clock = Clock()
    backlog = fresh(clock)
    clock.now += 5.0
    backlog.checked(MONGODB)
    backlog.checked(POSTGRESQL)
    assert backlog.behind(ROOM) == set()
    assert backlog.behind(OTHER) == {POSTGRESQL}


def test_without_a_max_age_the_view_never_expires() -> None:
    clock = Clock()
    backlog = Backlog(clock=clock)
    clock.now += 1e6
    assert backlog.behind(ROOM) == set()


def test_a_miss_noted_while_the_backlog_was_read_is_kept() -> None:
    """The query went out before this instance marked the miss: its answer
    cannot hold the mark, and must not erase what this instance knows."""
    clock = Clock()
    backlog = fresh(clock)
    asked_at = clock.now
    clock.now += 0.1
    backlog.add(ROOM, POSTGRESQL)
    clock.now += 0.1
    backlog.replace(POSTGRESQL, set(), asked_at)
    assert backlog.behind(ROOM) == {POSTGRESQL}
    # A query sent after the miss was noted (and marked) speaks for it.
    backlog.replace(POSTGRESQL, set(), clock.now)
    assert backlog.behind(ROOM) == set()


def test_an_answer_to_an_older_query_changes_nothing() -> None:
    """Refreshes overlap (the refresher, replay and a breaker's recovery)."""
    clock = Clock()
    backlog = fresh(clock)
    older = clock.now
    clock.now += 0.1
    backlog.replace(POSTGRESQL, {ROOM}, clock.now)
    backlog.replace(POSTGRESQL, set(), older)
    assert backlog.behind(ROOM) == {POSTGRESQL}


def test_the_views_not_read_since_a_moment() -> None:
    clock = Clock()
    backlog = Backlog(clock=clock)
    assert backlog.unchecked_since(clock.now) == {MONGODB, POSTGRESQL}
    backlog.checked(MONGODB)
    clock.now += 1.0
    backlog.replace(POSTGRESQL, set(), clock.now)
    assert backlog.unchecked_since(clock.now - 0.5) == {MONGODB}
    assert backlog.unchecked_since(clock.now - 1.0) == set()
