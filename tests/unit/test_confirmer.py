"""The confirmer's retry rule, with both stores refusing (their breakers open):
a failed confirmation is tried again, and its markers are held as settled,
for replay's grace period; then it is left to replay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from parley.replication.confirmer import RETRY_FOR, Confirmer
from parley.storage.mongo import direct_messages as mongo_dm
from parley.storage.records import MessageRecord
from tests.unit.resilience_fakes import guard


def _version() -> MessageRecord:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return MessageRecord(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "hi", None, False, "n", now, now)


async def test_a_failed_confirmation_is_held_and_retried_until_replay_takes_over() -> None:
    (mongo, _), (postgres, _) = guard("mongodb"), guard("postgresql")
    mongo.breaker.trip("down")
    postgres.breaker.trip("down")
    clock = [100.0]
    confirmer = Confirmer(mongo, postgres, clock=lambda: clock[0])
    first, second = _version(), _version()

    confirmer.confirmed(1, first)
    await confirmer.flush()
    clock[0] += RETRY_FOR - 0.5
    confirmer.confirmed(2, second)
    assert confirmer.pending()
    assert confirmer.settled_queue_rows() == {1, 2}
    assert confirmer.settled_mongo_markers() == {mongo_dm.marker_of(v) for v in (first, second)}

    clock[0] += 1.0  # the first has been tried for longer than replay's grace
    await confirmer.flush()
    assert confirmer.settled_queue_rows() == {2}
    assert confirmer.settled_mongo_markers() == {mongo_dm.marker_of(second)}

    clock[0] += RETRY_FOR
    await confirmer.flush()
    assert not confirmer.pending()
    assert confirmer.settled_queue_rows() == set()
    assert confirmer.settled_mongo_markers() == set()


async def test_a_bug_in_one_store_s_confirmation_keeps_the_other_s_in_line() -> None:
    """A confirmation that fails with something other than a storage error (a
    bug) is raised for the supervisor, after both stores' outcomes are noted:
    the other store's failed confirmation stays held and is tried again."""
    (mongo, _), (postgres, _) = guard("mongodb"), guard("postgresql")
    mongo.breaker.trip("down")  # MongoDB refuses; PostgreSQL's fake session is None: a bug
    confirmer = Confirmer(mongo, postgres)
    version = _version()
    confirmer.confirmed(1, version)

    with pytest.raises(AttributeError):
        await confirmer.flush()
    postgres.breaker.trip("down")
    await confirmer.flush()

    assert confirmer.settled_queue_rows() == {1}
    assert confirmer.settled_mongo_markers() == {mongo_dm.marker_of(version)}
