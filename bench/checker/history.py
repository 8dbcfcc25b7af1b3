"""What happened during a run: every client operation with its start, end,
instance and outcome, every nemesis action, every subscriber frame.

Outcomes follow Jepsen: `ok` (the API acknowledged it), `fail` (it certainly did
not happen: a 4xx, or a connection refused before the request was sent) and
`unknown` (a timeout, a dropped connection or a 5xx: it may have happened, now
or later)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]
WRITES = ("send", "retry", "edit", "delete")


@dataclass(frozen=True)
class Version:
    """One message as a read, an event or a store showed it."""

    id: str
    content: str
    deleted: bool
    updated_at: str


@dataclass
class Op:
    index: int
    kind: str  # send, retry, edit, delete, read
    person: str
    room: str
    instance: int
    start: float
    end: float = 0.0
    outcome: Outcome = "unknown"
    status: str = ""
    nonce: str | None = None
    content: str | None = None  # what a write asked to store
    message_id: str | None = None  # the target of an edit/delete, the id a send got
    version: Version | None = None  # what a write was answered with
    page: dict[str, Any] = field(default_factory=dict)  # a read's query
    items: list[Version] = field(default_factory=list)  # a read's answer

    @property
    def is_write(self) -> bool:
        return self.kind in WRITES


@dataclass
class Fault:
    """One nemesis action: `action` on `targets` from `start` until healed at `end`."""

    action: str  # kill, freeze
    targets: tuple[str, ...]
    start: float
    end: float = 0.0


@dataclass
class Frame:
    """One frame a subscriber received, or the end of its connection."""

    subscriber: str
    connection: int
    at: float
    type: str
    room: str | None = None
    version: Version | None = None


@dataclass
class Period:
    """One subscriber's subscription to a room over one connection."""

    subscriber: str
    connection: int
    instance: int
    room: str
    start: float  # the `subscribed` frame arrived
    end: float = 0.0
    clean: bool = False  # closed by the harness after the run, not dropped


class Clock:
    def __init__(self) -> None:
        self._zero = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._zero


@dataclass
class History:
    seed: int
    ops: list[Op] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)

    def begin(self, kind: str, person: str, room: str, instance: int, at: float, **kw: Any) -> Op:
        op = Op(len(self.ops), kind, person, room, instance, at, **kw)
        self.ops.append(op)
        return op

    def writes_of(self, message_id: str) -> list[Op]:
        return [o for o in self.ops if o.is_write and o.message_id == message_id]

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), default=str))
