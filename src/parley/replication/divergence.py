"""What anti-entropy finds: the kinds of divergence between the stores, the
rule that says which version wins, and the report `parley verify` prints.

The version order is the one both stores' conditional writes and replay
apply (`storage.records.version_key`, `newest`): a deleted version wins over
any edit (a delete is never undone), then the later `updatedAt`, then the
greater content, then the greater file URL. Two different versions with the
same `updatedAt` are still reported apart, as "conflicting equal versions",
so an operator can see them; repair settles them like any other difference.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.storage.fingerprint import epoch_ms
from parley.storage.records import MessageRecord, newest

MISSING_IN_MONGODB = "missing_in_mongodb"
MISSING_IN_POSTGRESQL = "missing_in_postgresql"
DIFFERENT_VERSIONS = "different_versions"
CONFLICTING_EQUAL_VERSIONS = "conflicting_equal_versions"
MIRROR_DIFFERENCE = "mirror_differences"
KINDS = (
    MISSING_IN_MONGODB,
    MISSING_IN_POSTGRESQL,
    DIFFERENT_VERSIONS,
    CONFLICTING_EQUAL_VERSIONS,
    MIRROR_DIFFERENCE,
)
LABELS = {
    MISSING_IN_MONGODB: "missing in MongoDB",
    MISSING_IN_POSTGRESQL: "missing in PostgreSQL",
    DIFFERENT_VERSIONS: "different versions",
    CONFLICTING_EQUAL_VERSIONS: "conflicting equal versions",
    MIRROR_DIFFERENCE: "mirror differences",
}


@dataclass(frozen=True)
class Divergence:
    """One id the stores disagree on. Messages carry both stores' versions
    (None where missing); mirror entries name what is mirrored."""

    kind: str
    id: uuid.UUID
    conversation_id: uuid.UUID | None = None
    postgres: MessageRecord | None = None
    mongo: MessageRecord | None = None
    mirror: str | None = None  # "profile" or "conversation"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "id": str(self.id)}
        if self.conversation_id is not None:
            out["roomId"] = str(self.conversation_id)
        if self.mirror is not None:
            out["mirror"] = self.mirror
        if self.postgres is not None and self.mongo is not None:
            out["winner"] = (
                "postgresql" if winner(self.postgres, self.mongo) is self.postgres else "mongodb"
            )
        return out


def same_time(a: MessageRecord, b: MessageRecord) -> bool:
    """Equal `updatedAt` to the millisecond, all BSON keeps (a PostgreSQL row
    written outside the app may carry microseconds MongoDB cannot hold)."""
    return epoch_ms(a.updated_at) == epoch_ms(b.updated_at)


def same_version(a: MessageRecord, b: MessageRecord) -> bool:
    """The fields anti-entropy compares."""
    return (
        same_time(a, b)
        and a.deleted == b.deleted
        and a.content == b.content
        and a.file_url == b.file_url
    )


def winner(postgres: MessageRecord, mongo: MessageRecord) -> MessageRecord:
    """The version both stores must end with: the later in the version order."""
    return newest(postgres, mongo)


def classify(
    conversation_id: uuid.UUID, postgres: MessageRecord | None, mongo: MessageRecord | None
) -> Divergence | None:
    """The kind of disagreement on one message, or None when the stores agree."""
    if postgres is None and mongo is None:
        return None
    if postgres is None or mongo is None:
        kind = MISSING_IN_MONGODB if mongo is None else MISSING_IN_POSTGRESQL
    elif same_version(postgres, mongo):
        return None
    elif not same_time(postgres, mongo):
        kind = DIFFERENT_VERSIONS
    else:
        kind = CONFLICTING_EQUAL_VERSIONS
    message_id = (postgres or mongo).id  # type: ignore[union-attr]
    return Divergence(kind, message_id, conversation_id, postgres, mongo)


def in_flight(
    postgres: MessageRecord | None, mongo: MessageRecord | None, settled_before: datetime
) -> bool:
    """Written so recently that a dual write or its replay may still be settling."""
    return any(r is not None and r.updated_at >= settled_before for r in (postgres, mongo))


@dataclass
class Report:
    """Divergences by kind, every divergent id, and whether the walk finished."""

    conversations: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    items: list[Divergence] = field(default_factory=list)
    finished: bool = False
    error: str | None = None

    def add(self, found: list[Divergence]) -> None:
        self.items.extend(found)
        self.counts.update(d.kind for d in found)

    @property
    def divergent(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "finished": self.finished,
            "conversations": self.conversations,
            "divergent": self.divergent,
            "byKind": {kind: self.counts.get(kind, 0) for kind in KINDS},
            "error": self.error,
        }
