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
from parley.storage.records import MessageRecord, newest, version_key

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


def test_winner_is_the_version_order_whichever_side() -> None:
    m = message()
    newer = replace(m, updated_at=AT + timedelta(milliseconds=1))
    assert winner(m, newer) is newer and winner(newer, m) is newer
    deleted = replace(m, deleted=True, content="gone")
    assert winner(m, deleted) is deleted and winner(deleted, m) is deleted
    other = replace(m, content="other")
    assert winner(m, other) is other and winner(other, m) is other
    with_file = replace(m, file_url="https://f.example/a")
    assert winner(m, with_file) is with_file and winner(with_file, m) is with_file


def test_version_order_is_total_and_a_delete_wins_at_equal_time() -> None:
    m = message(content="b", file_url="https://f.example/b")
    versions = [
        m,
        replace(m, content="a"),
        replace(m, content="é"),  # code point order: after every ASCII letter
        replace(m, file_url=None),
        replace(m, file_url="https://f.example/c"),
        replace(m, deleted=True, content="", file_url=None),
        replace(m, updated_at=AT - timedelta(milliseconds=1), deleted=True),
    ]
    keys = [version_key(v) for v in versions]
    assert len(set(keys)) == len(keys)
    for a in versions:
        for b in versions:
            assert newest(a, b) is newest(b, a) or a == b
    tombstone = versions[5]
    assert all(newest(tombstone, v) is tombstone for v in versions[:5])
    assert newest(tombstone, versions[6]) is tombstone


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
