"""The checker: what a history and the final contents of both stores must
satisfy. Pure functions over plain data, so each rule has a unit test that
shows it can fail (tests/unit/test_chaos_checks.py).

The guarantees checked, as docs/ARCHITECTURE.md ("Guarantees") states them:

- lost: an acknowledged send is in both stores.
- stored_twice: one send is stored under one id (nonce retries included).
- nonce_answers_differ: every acknowledged answer to one nonce names one id
  (the workload marks its retries `"retry": true`, as clients must).
- resurrected: an acknowledged delete stays deleted in both stores.
- deleted_in_reads: a read that starts READ_WINDOW after a delete was
  acknowledged never shows the message undeleted.
- not_last_write: the final version of a message is not one that an
  acknowledged write started after it ended overwrote, and not a refused write.
  A write without an answer (a timeout) has no end: it may land after later
  writes and win, as its version is newer (a frozen instance that thaws).
- stores_differ: both stores hold the same ids with the same fields.
- stale_reads: a page read that starts READ_WINDOW after a send was
  acknowledged includes that message when its id falls in the page's range.
  One exception, inherent to two stores replicating asynchronously: a write
  that one store missed (it was down or recovering, or the instance writing
  it was killed between the two stores) is held by the other alone until
  replay; if that one goes down before, reads are answered by the
  store that missed it. Such reads (`_only_holder_down`) are not counted.
- missed_events: a subscriber gets an event for every acknowledged write in a
  room it is subscribed to, or a `resync` for that room, unless its connection
  ended first (a client fills the gap after every reconnect).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from bench.checker.history import Fault, History, Op, Period, Version

READ_WINDOW = 1.0
"""Seconds after an acknowledgement from which every read must reflect it."""

RECOVERY = 5.0
"""Seconds after a store comes back during which writes may still skip it
(its breaker waits before trying it again) and replay catches it up."""

EVENT_WINDOW = 5.0
"""Seconds after an acknowledgement (or after PostgreSQL, or the instance
that acknowledged, is back) within which its event reaches subscribers."""

FIELDS = ("room", "author", "content", "deleted", "file_url", "nonce", "created_at", "updated_at")


@dataclass(frozen=True)
class Stored:
    id: str
    room: str
    author: str
    content: str
    deleted: bool
    file_url: str | None
    nonce: str
    created_at: str
    updated_at: str


Store = dict[str, Stored]


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, check: str, example: str) -> None:
        self.counts[check] = self.counts.get(check, 0) + 1
        if len(self.examples.setdefault(check, [])) < 5:
            self.examples[check].append(example)

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())


CHECKS = (
    "lost",
    "stored_twice",
    "nonce_answers_differ",
    "resurrected",
    "deleted_in_reads",
    "not_last_write",
    "stores_differ",
    "stale_reads",
    "missed_events",
)


def check(history: History, stores: dict[str, Store]) -> Report:
    report = Report(counts=dict.fromkeys(CHECKS, 0))
    acked = [op for op in history.ops if op.outcome == "ok"]
    nonce_answers_differ(acked, report)
    lost(acked, stores, report)
    stored_twice(history.ops, stores, report)
    resurrected(acked, stores, report)
    deleted_in_reads(acked, history.faults, report)
    not_last_write(history, stores, report)
    stores_differ(stores, report)
    stale_reads(acked, history.faults, report, history.ops)
    missed_events(history, report)
    return report


def _sends(ops: Iterable[Op]) -> list[Op]:
    return [op for op in ops if op.kind in ("send", "retry") and op.message_id]


def lost(acked: list[Op], stores: dict[str, Store], report: Report) -> None:
    for op in _sends(acked):
        for name, store in stores.items():
            if op.message_id not in store:
                report.add("lost", f"{op.message_id} (op {op.index}) missing from {name}")


def stored_twice(ops: list[Op], stores: dict[str, Store], report: Report) -> None:
    """Each send's content is unique to it (retries repeat it), and nobody edits
    a message whose id nobody was told, so a second stored id still carries it."""
    ids: dict[str, set[str]] = defaultdict(set)
    sent = {op.content for op in ops if op.kind == "send"}
    for store in stores.values():
        for message in store.values():
            if message.content in sent:
                ids[message.content].add(message.id)
    for op in _sends(o for o in ops if o.outcome == "ok"):
        ids[op.content or ""].add(op.message_id or "")
    for content, found in ids.items():
        if len(found) > 1:
            report.add("stored_twice", f"{content!r} stored as {sorted(found)}")


def nonce_answers_differ(acked: list[Op], report: Report) -> None:
    answers: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for op in _sends(acked):
        if op.nonce:
            answers[(op.person, op.room, op.nonce)].add(op.message_id or "")
    for (_, _, nonce), found in answers.items():
        if len(found) > 1:
            report.add("nonce_answers_differ", f"nonce {nonce} answered {sorted(found)}")


def resurrected(acked: list[Op], stores: dict[str, Store], report: Report) -> None:
    for op in acked:
        if op.kind != "delete":
            continue
        for name, store in stores.items():
            found = store.get(op.message_id or "")
            if found is not None and not found.deleted:
                report.add("resurrected", f"{op.message_id} (delete op {op.index}) alive in {name}")


def deleted_in_reads(acked: list[Op], faults: list[Fault], report: Report) -> None:
    deletes = [op for op in acked if op.kind == "delete"]
    for read in (op for op in acked if op.kind == "read"):
        shown = {item.id: item for item in read.items}
        for delete in deletes:
            item = shown.get(delete.message_id or "")
            if not item or item.deleted or delete.end + READ_WINDOW > read.start:
                continue
            if not _only_holder_down(delete, read, faults):
                report.add(
                    "deleted_in_reads",
                    f"read op {read.index} shows {item.id} after delete op {delete.index}",
                )


def _producer(history: History, message: Stored) -> Op | None:
    """The write whose value the store holds (contents are unique per write,
    retries repeat their send's): the first that may have happened, else the
    first refused one."""
    candidates = [
        op
        for op in history.ops
        if (message.deleted and op.kind == "delete" and op.message_id == message.id)
        or (not message.deleted and op.kind != "delete" and op.content == message.content)
    ]
    possible = [op for op in candidates if op.outcome != "fail"]
    found = possible or candidates
    return found[0] if found else None


def not_last_write(history: History, stores: dict[str, Store], report: Report) -> None:
    writes: dict[str, list[Op]] = defaultdict(list)
    for op in history.ops:
        # A retry answers with the stored message; it writes no new version.
        if op.kind in ("edit", "delete") and op.outcome == "ok" and op.message_id:
            writes[op.message_id].append(op)
    for name, store in stores.items():
        for message in store.values():
            producer = _producer(history, message)
            if producer is None:
                report.add("not_last_write", f"{message.id} in {name}: stored by no write")
                continue
            if producer.outcome == "fail":
                report.add(
                    "not_last_write",
                    f"{message.id} in {name}: holds refused op {producer.index}",
                )
                continue
            if message.deleted or producer.outcome == "unknown":
                # An unanswered write may take effect any time after it
                # started, after writes acknowledged since included (Jepsen's
                # indeterminate operations): nothing is ordered after it.
                continue
            later = [w for w in writes[message.id] if w.start > producer.end]
            if later:
                report.add(
                    "not_last_write",
                    f"{message.id} in {name}: holds op {producer.index}, "
                    f"acknowledged op {later[0].index} came after it",
                )


def stores_differ(stores: dict[str, Store], report: Report) -> None:
    (a_name, a), (b_name, b) = stores.items()
    for message_id in sorted(a.keys() ^ b.keys()):
        where = a_name if message_id in a else b_name
        report.add("stores_differ", f"{message_id} only in {where}")
    for message_id in sorted(a.keys() & b.keys()):
        differing = [f for f in FIELDS if getattr(a[message_id], f) != getattr(b[message_id], f)]
        if differing:
            report.add("stores_differ", f"{message_id}: {', '.join(differing)}")


STORES = ("postgres", "mongo")


def _down(store: str, faults: list[Fault], start: float, end: float, grace: float) -> bool:
    """Whether `store` was down (or up less than `grace` seconds) within [start, end]."""
    return any(store in f.targets and f.start <= end and f.end + grace >= start for f in faults)


def _only_holder_down(write: Op, read: Op, faults: list[Fault]) -> bool:
    """One store may have missed the write (it was down or recovering while
    the write was made, or an app instance was killed meanwhile, between a
    write's two stores), the other was down during the read, and the two
    stores were never both up for RECOVERY seconds in between (when replay
    would have caught up). `write.start` is its first attempt's, for a retry."""
    instance_died = any(
        f.action == "kill"
        and any(t.startswith("app") for t in f.targets)
        and f.start <= write.end
        and f.end >= write.start
        for f in faults
    )
    for missed, holder in (STORES, STORES[::-1]):
        one_missed = instance_died or _down(missed, faults, write.start, write.end, RECOVERY)
        if one_missed and _down(holder, faults, read.start, read.end, 0.0):
            return _covered(faults, write.end, read.start)
    return False


def _covered(faults: list[Fault], start: float, end: float) -> bool:
    """Whether store faults (with their recovery) leave no gap in [start, end]."""
    spans = sorted((f.start, f.end + RECOVERY) for f in faults if set(f.targets) & set(STORES))
    reached = start
    for span_start, span_end in spans:
        if span_start > reached:
            break
        reached = max(reached, span_end)
    return reached >= end


def _covers(read: Op, message_id: str) -> bool:
    """Whether a complete answer to `read` would have included `message_id`."""
    ids = [item.id for item in read.items]
    full = len(ids) >= int(read.page.get("limit", 50))
    after, before = read.page.get("after"), read.page.get("before")
    if after is not None:
        return message_id > after and (not full or message_id <= max(ids))
    if before is not None:
        return message_id < before and (not full or message_id >= min(ids))
    return not full or message_id >= min(ids)


def _from_first_attempt(sends: list[Op], ops: list[Op]) -> list[Op]:
    """Each acknowledged send with `start` moved back to its nonce's first attempt."""
    first: dict[tuple[str, str, str], float] = {}
    for op in ops:
        if op.kind in ("send", "retry") and op.nonce:
            key = (op.person, op.room, op.nonce)
            first[key] = min(first.get(key, op.start), op.start)
    return [
        replace(op, start=first.get((op.person, op.room, op.nonce or ""), op.start)) for op in sends
    ]


def stale_reads(
    acked: list[Op], faults: list[Fault], report: Report, ops: list[Op] | None = None
) -> None:
    sends = _from_first_attempt(_sends(acked), ops or acked)
    for read in (op for op in acked if op.kind == "read"):
        shown = {item.id for item in read.items}
        for send in sends:
            if send.room != read.room or send.end + READ_WINDOW > read.start:
                continue
            if send.message_id in shown or not _covers(read, send.message_id or ""):
                continue
            if not _only_holder_down(send, read, faults):
                missed = f"read op {read.index} missed {send.message_id} (op {send.index})"
                report.add("stale_reads", missed)


def _event_deadline(write: Op, period: Period, faults: list[Fault]) -> float:
    """When the write's event must have arrived: EVENT_WINDOW after the ack, or
    after PostgreSQL (the cross-instance transport), the acknowledging instance
    or the subscriber's instance recovered from a fault that overlapped the
    delivery."""
    involved = {"postgres", f"app{write.instance}", f"app{period.instance}"}
    deadline = write.end + EVENT_WINDOW
    for fault in sorted(faults, key=lambda f: f.start):
        hits = bool(involved & set(fault.targets))
        if hits and fault.start <= deadline and fault.end >= write.start:
            deadline = max(deadline, fault.end + EVENT_WINDOW)
    return deadline


def _changed_something(op: Op) -> bool:
    """An acknowledged write that stored a version (a retry answered 200 only
    found the first send's)."""
    if op.outcome != "ok" or op.version is None:
        return False
    return op.kind != "retry" or op.status == "201"


def missed_events(history: History, report: Report) -> None:
    writes = [op for op in history.ops if _changed_something(op)]
    received: dict[tuple[str, int], list[Version]] = defaultdict(list)
    resyncs: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for frame in history.frames:
        key = (frame.subscriber, frame.connection)
        if frame.version is not None:
            received[key].append(frame.version)
        if frame.type == "resync" and frame.room:
            resyncs[(*key, frame.room)].append(frame.at)
    for period in history.periods:
        key = (period.subscriber, period.connection)
        for write in writes:
            if write.room != period.room or write.start < period.start:
                continue
            if not period.clean and _event_deadline(write, period, history.faults) > period.end:
                continue
            version = write.version
            assert version is not None
            got = any(
                v.id == version.id and v.updated_at >= version.updated_at for v in received[key]
            )
            resynced = any(at >= write.start for at in resyncs[(*key, period.room)])
            if not got and not resynced:
                report.add(
                    "missed_events",
                    f"{period.subscriber} conn {period.connection} missed op {write.index} "
                    f"({write.kind} {version.id})",
                )
