"""`Stall`: a missed deadline with no answer since, told apart from a busy store."""

from __future__ import annotations

from parley.resilience import Stall
from tests.unit.resilience_fakes import Clock


def test_a_missed_deadline_with_no_answer_since_is_a_stall() -> None:
    clock = Clock()
    stall = Stall(clock)
    stall.answered()
    clock.now += 1
    sent = stall.now()
    clock.now += 0.5
    stall.missed_deadline(sent)
    assert stall.stalled


def test_an_answer_after_the_call_was_sent_means_busy_not_stalled() -> None:
    clock = Clock()
    stall = Stall(clock)
    sent = stall.now()
    clock.now += 0.2
    stall.answered()  # another call came back while this one was running
    clock.now += 0.3
    stall.missed_deadline(sent)
    assert not stall.stalled


def test_one_answer_ends_a_stall() -> None:
    clock = Clock()
    stall = Stall(clock)
    stall.missed_deadline(stall.now())
    assert stall.stalled
    clock.now += 0.01
    stall.answered()
    assert not stall.stalled
