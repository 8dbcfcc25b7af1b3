"""Fingerprints of DM versions that both stores can compute the same way, so
anti-entropy compares a whole conversation with one value per store and reads
row by row only where the values differ.

A row's digest is the md5 of its id, `updatedAt` in epoch milliseconds (what
BSON dates hold), `deleted`, and the md5s of content and file URL (fixed
length, so no separator inside a field can make two rows look alike).
PostgreSQL computes the same text in SQL (`storage/postgres/antientropy.py`);
MongoDB's documents are hashed here in Python.

A chunk's fingerprint is the row count and the sums of the two signed 64-bit
halves of every row digest. Sums do not depend on order, so a store can stream
a conversation in whatever order it reads fastest, and PostgreSQL computes it
with plain `sum()` aggregates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_FILE = "-"


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, floored, without float rounding."""
    return (value - EPOCH) // timedelta(milliseconds=1)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def row_digest(
    message_id: str, updated_at: datetime, deleted: bool, content: str, file_url: str | None
) -> str:
    """The md5 hex digest of one DM version (`message_id` as canonical text)."""
    file_part = _md5(file_url) if file_url is not None else NO_FILE
    flag = "t" if deleted else "f"
    return _md5(f"{message_id}|{epoch_ms(updated_at)}|{flag}|{_md5(content)}|{file_part}")


def _signed(hex16: str) -> int:
    return int.from_bytes(bytes.fromhex(hex16), "big", signed=True)


@dataclass
class ChunkSum:
    """The order-independent fingerprint of a set of row digests."""

    count: int = 0
    high: int = 0
    low: int = 0

    def add(self, digest: str) -> None:
        self.count += 1
        self.high += _signed(digest[:16])
        self.low += _signed(digest[16:])
