"""Anti-entropy's version order and fingerprints, without servers."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from parley.replication.divergence import (
    CONFLICTING_EQUAL_VERSIONS,
    DIFFERENT_VERSIONS,
    MISSING_IN_MONGODB,
    MISSING_IN_POSTGRESQL,
    classify,
    winner,
)
from parley.storage.fingerprint import ChunkSum, epoch_ms, row_digest
from parley.storage.records import MessageRecord

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
ROOM = uuid.uuid4()


def message(**changes: object) -> MessageRecord:
    base = MessageRecord(uuid.uuid4(), ROOM, uuid.uuid4(), "hi", None, False, "n", AT, AT)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_kinds() -> None:
    m = message()
    assert classify(ROOM, m, None).kind == MISSING_IN_MONGODB  # type: ignore[union-attr]
    assert classify(ROOM, None, m).kind == MISSING_IN_POSTGRESQL  # type: ignore[union-attr]
    assert classify(ROOM, m, m) is None
    newer = replace(m, content="x", updated_at=AT + timedelta(seconds=1))
    assert classify(ROOM, m, newer).kind == DIFFERENT_VERSIONS  # type: ignore[union-attr]
    tie = replace(m, content="x")
    assert classify(ROOM, m, tie).kind == CONFLICTING_EQUAL_VERSIONS  # type: ignore[union-attr]


def test_microseconds_mongodb_cannot_hold_are_not_a_version() -> None:
    m = message()
    assert classify(ROOM, replace(m, updated_at=AT + timedelta(microseconds=300)), m) is None


def test_winner_is_newest_then_deleted_then_greater_hash_whichever_side() -> None:
    m = message()
    newer = replace(m, updated_at=AT + timedelta(milliseconds=1))
    assert winner(m, newer) is newer and winner(newer, m) is newer
    deleted = replace(m, deleted=True, content="gone")
    assert winner(m, deleted) is deleted and winner(deleted, m) is deleted
    other = replace(m, content="other")
    assert winner(m, other).content == winner(other, m).content


def test_fingerprint_ignores_order_but_not_content() -> None:
    digests = [row_digest(str(uuid.uuid4()), AT, False, f"m{i}", None) for i in range(5)]
    forward, backward = ChunkSum(), ChunkSum()
    for d in digests:
        forward.add(d)
    for d in reversed(digests):
        backward.add(d)
    assert forward == backward
    assert row_digest("a", AT, False, "x", None) != row_digest("a", AT, True, "x", None)
    assert row_digest("a", AT, False, "x", None) != row_digest("a", AT, False, "x", "")
    assert epoch_ms(AT) == 1767323045678
