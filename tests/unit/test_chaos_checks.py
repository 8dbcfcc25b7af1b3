"""The chaos checker's rules (bench/checker/checks.py) on hand-made histories:
each one finds the violation it exists for, and none fires on a clean history."""

from __future__ import annotations

from bench.checker.checks import Stored, check
from bench.checker.history import Fault, Frame, History, Op, Period, Version

ROOM = "01a00000-0000-7000-8000-000000000000"
M1 = "01a00000-0000-7000-8000-000000000001"
M2 = "01a00000-0000-7000-8000-000000000002"
T0, T1, T2 = "2026-11-30T10:00:00.000Z", "2026-11-30T10:00:01.000Z", "2026-11-30T10:00:02.000Z"


def stored(message_id: str, content: str, *, deleted: bool = False, at: str = T0) -> Stored:
    return Stored(message_id, ROOM, "ada", content, deleted, None, "n", T0, at)


class Run:
    def __init__(self) -> None:
        self.history = History(seed=1)

    def op(self, kind: str, start: float, end: float, outcome: str = "ok", **kw: object) -> Op:
        op = self.history.begin(kind, "ada", ROOM, 0, start, **kw)
        op.end, op.outcome = end, outcome  # type: ignore[assignment]
        if kind in ("send", "retry") and outcome == "ok" and "status" not in kw:
            op.status = "201"
        return op

    def send(self, message_id: str, content: str, start: float = 0.0, **kw: object) -> Op:
        version = Version(message_id, content, False, T0)
        return self.op(
            "send",
            start,
            start + 0.1,
            message_id=message_id,
            content=content,
            version=version,
            **kw,
        )

    def read(self, start: float, items: list[Version], **page: object) -> Op:
        return self.op("read", start, start + 0.1, page={"limit": 50, **page}, items=items)

    def counts(self, postgres: list[Stored], mongodb: list[Stored] | None = None) -> dict[str, int]:
        stores = {
            "postgres": {m.id: m for m in postgres},
            "mongodb": {m.id: m for m in (postgres if mongodb is None else mongodb)},
        }
        return {k: v for k, v in check(self.history, stores).counts.items() if v}


def test_a_clean_history_counts_nothing() -> None:
    run = Run()
    run.send(M1, "s1")
    run.op("edit", 1, 2, message_id=M1, content="e1", version=Version(M1, "e1", False, T1))
    run.read(3, [Version(M1, "e1", False, T1)])
    assert run.counts([stored(M1, "e1", at=T1)]) == {}


def test_an_acknowledged_send_missing_from_one_store_is_lost() -> None:
    run = Run()
    run.send(M1, "s1")
    assert run.counts([stored(M1, "s1")], []) == {"lost": 1, "stores_differ": 1}


def test_one_send_under_two_ids_is_stored_twice() -> None:
    run = Run()
    run.send(M1, "s1")
    both = [stored(M1, "s1"), stored(M2, "s1")]
    assert run.counts(both)["stored_twice"] == 1


def test_a_nonce_answered_with_two_ids() -> None:
    run = Run()
    run.send(M1, "s1", nonce="n1")
    run.op("retry", 1, 2, message_id=M2, content="s1", nonce="n1", status="200")
    assert run.counts([stored(M1, "s1")])["nonce_answers_differ"] == 1


def test_an_acknowledged_delete_undone_is_a_resurrection() -> None:
    run = Run()
    run.send(M1, "s1")
    run.op("delete", 1, 2, message_id=M1)
    assert run.counts([stored(M1, "s1")])["resurrected"] == 2  # in each store


def test_a_read_after_a_delete_showing_the_message() -> None:
    run = Run()
    run.send(M1, "s1")
    run.op("delete", 1, 2, message_id=M1)
    run.read(4, [Version(M1, "s1", False, T0)])
    assert run.counts([stored(M1, "gone", deleted=True)])["deleted_in_reads"] == 1


def test_a_final_version_an_acknowledged_later_edit_overwrote() -> None:
    run = Run()
    run.send(M1, "s1")
    run.op("edit", 1, 2, message_id=M1, content="e1")
    run.op("edit", 3, 4, message_id=M1, content="e2")
    assert run.counts([stored(M1, "e1")]) == {"not_last_write": 2}
    # Edits that overlapped in time may end either way.
    run.history.ops[2].start = 1.5
    assert run.counts([stored(M1, "e1")]) == {}


def test_an_unanswered_write_may_land_after_later_ones() -> None:
    """Seen in a 30-minute run: an edit sent to an instance that was frozen
    timed out; another edit was then acknowledged elsewhere; the first instance
    thawed and stored its edit with a later version. Not a violation: the
    unanswered edit never ended."""
    run = Run()
    run.send(M1, "s1")
    run.op("edit", 1, 2, "unknown", message_id=M1, content="e1")
    run.op("edit", 3, 4, message_id=M1, content="e2")
    assert run.counts([stored(M1, "e1")]) == {}
    run.history.ops[1].outcome = "ok"
    assert run.counts([stored(M1, "e1")]) == {"not_last_write": 2}


def test_a_refused_write_that_was_stored() -> None:
    run = Run()
    run.send(M1, "s1")
    run.op("edit", 1, 2, "fail", message_id=M1, content="e1", status="409")
    assert run.counts([stored(M1, "e1")]) == {"not_last_write": 2}


def test_fields_that_differ_between_the_stores() -> None:
    run = Run()
    run.send(M1, "s1")
    run.op("edit", 1, 2, "unknown", message_id=M1, content="e1")
    assert run.counts([stored(M1, "s1")], [stored(M1, "e1", at=T2)]) == {"stores_differ": 1}


def test_a_read_that_missed_an_acknowledged_send() -> None:
    run = Run()
    run.send(M1, "s1")
    run.send(M2, "s2", start=0.2)
    run.read(5, [Version(M2, "s2", False, T0)])
    assert run.counts([stored(M1, "s1"), stored(M2, "s2")]) == {"stale_reads": 1}
    # A page that ends before the message does not cover it.
    run.history.ops[2].page = {"limit": 1}
    assert run.counts([stored(M1, "s1"), stored(M2, "s2")]) == {}


def test_a_read_within_the_window_may_miss_it() -> None:
    run = Run()
    run.send(M1, "s1")
    run.read(0.5, [])
    assert run.counts([stored(M1, "s1")]) == {}


def test_a_subscriber_that_missed_an_event_without_a_resync() -> None:
    run = Run()
    run.history.periods.append(Period("bob", 1, 0, ROOM, start=0.0, end=30.0, clean=True))
    run.send(M1, "s1", start=1.0)
    assert run.counts([stored(M1, "s1")]) == {"missed_events": 1}
    run.history.frames.append(Frame("bob", 1, 2.0, "resync", ROOM))
    assert run.counts([stored(M1, "s1")]) == {}


def test_a_dropped_connection_owes_only_what_was_due_before_it_dropped() -> None:
    run = Run()
    run.history.periods.append(Period("bob", 1, 0, ROOM, start=0.0, end=8.0, clean=False))
    run.send(M1, "s1", start=1.0)
    assert run.counts([stored(M1, "s1")]) == {"missed_events": 1}
    # PostgreSQL (the cross-instance transport) was down until after it dropped.
    run.history.faults.append(Fault("freeze", ("postgres",), 0.5, 7.0))
    assert run.counts([stored(M1, "s1")]) == {}


def test_a_read_while_the_only_store_holding_the_write_is_down_is_not_counted() -> None:
    run = Run()
    run.history.faults.append(Fault("kill", ("mongo",), 0.0, 2.0))  # MongoDB missed it
    run.send(M1, "s1", start=1.0)
    run.history.faults.append(Fault("freeze", ("postgres",), 4.0, 9.0))  # the holder
    run.read(5.0, [])
    assert run.counts([stored(M1, "s1")]) == {}
    # Both stores were up for long enough in between: replay should have run.
    run.history.faults[1].start = run.history.faults[1].start + 10
    run.history.faults[1].end += 10
    run.history.ops[1].start = run.history.ops[1].end = 15.0
    assert run.counts([stored(M1, "s1")]) == {"stale_reads": 1}


def test_a_read_from_a_store_still_catching_up_is_counted() -> None:
    run = Run()
    run.history.faults.append(Fault("kill", ("postgres",), 0.0, 3.0))
    run.send(M1, "s1", start=1.0)
    run.read(3.5, [])  # PostgreSQL is back but behind; MongoDB is up
    assert run.counts([stored(M1, "s1")]) == {"stale_reads": 1}


def test_a_read_after_the_writer_died_between_stores_and_the_holder_went_down() -> None:
    run = Run()
    run.history.faults.append(Fault("kill", ("app0", "mongo"), 1.0, 6.0))
    run.send(M1, "s1", start=0.9)  # its instance died before PostgreSQL got it
    run.read(3.0, [])  # MongoDB, the only holder, is down
    assert run.counts([stored(M1, "s1")]) == {}
    run.history.faults[0] = Fault("kill", ("mongo",), 1.0, 6.0)  # no instance died
    assert run.counts([stored(M1, "s1")]) == {"stale_reads": 1}
