from __future__ import annotations

import pytest

from parley.resilience import RecentLatency, rest_for_duty


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_calls_means_no_latency() -> None:
    assert RecentLatency().seconds == 0.0


def test_the_first_call_sets_the_mean_and_later_ones_move_it_by_their_weight() -> None:
    clock = Clock()
    latency = RecentLatency(weight=0.5, horizon=1.0, clock=clock)
    latency.record(0.4)
    assert latency.seconds == pytest.approx(0.4)
    clock.now += 0.1
    latency.record(0.0)
    assert latency.seconds == pytest.approx(0.2)


def test_slow_calls_raise_the_mean_and_quick_ones_bring_it_back() -> None:
    clock = Clock()
    latency = RecentLatency(weight=0.1, horizon=1.0, clock=clock)
    for _ in range(30):
        clock.now += 0.02
        latency.record(0.3)
    assert latency.seconds > 0.25
    for _ in range(30):
        clock.now += 0.02
        latency.record(0.005)
    assert latency.seconds < 0.05


def test_with_no_call_for_the_horizon_there_is_no_latency_and_the_next_starts_afresh() -> None:
    clock = Clock()
    latency = RecentLatency(weight=0.1, horizon=1.0, clock=clock)
    latency.record(0.5)
    clock.now += 0.9
    assert latency.seconds == pytest.approx(0.5)
    clock.now += 0.2
    assert latency.seconds == 0.0
    latency.record(0.01)
    assert latency.seconds == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("took", "duty", "rest"),
    [(1.0, 0.5, 1.0), (1.0, 0.1, 9.0), (0.2, 0.25, 0.6), (3.0, 1.0, 0.0)],
)
def test_the_rest_keeps_the_work_to_its_duty(took: float, duty: float, rest: float) -> None:
    assert rest_for_duty(took, duty=duty, longest=60.0) == pytest.approx(rest)


def test_the_rest_is_never_longer_than_the_longest() -> None:
    assert rest_for_duty(10.0, duty=0.1, longest=2.0) == 2.0
