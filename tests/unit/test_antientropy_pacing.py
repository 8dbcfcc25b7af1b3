import pytest

from parley.replication.antientropy import wait_after_step


def test_a_quick_step_waits_for_the_rate() -> None:
    # 10 conversations at 50 per second: 0.2 s, though the step took 0.01 s.
    assert wait_after_step(10, 0.01, rate=50.0, duty=0.1, longest=15.0) == pytest.approx(0.2)


def test_a_slow_step_waits_so_the_walk_works_at_most_its_duty() -> None:
    # 1 s of work at a duty of 10 %: 9 s of rest, 1 s busy in every 10.
    assert wait_after_step(10, 1.0, rate=50.0, duty=0.1, longest=15.0) == pytest.approx(9.0)


def test_a_duty_of_one_leaves_only_the_rate() -> None:
    assert wait_after_step(10, 5.0, rate=50.0, duty=1.0, longest=15.0) == pytest.approx(0.2)


def test_the_wait_grows_with_the_step_not_with_the_batch() -> None:
    # The same batch meeting a conversation of 5,000 messages, or a busy store.
    small = wait_after_step(10, 0.1, rate=50.0, duty=0.25, longest=15.0)
    big = wait_after_step(10, 1.0, rate=50.0, duty=0.25, longest=15.0)
    assert big == pytest.approx(3.0)
    assert big > small


def test_the_wait_never_outlasts_half_the_lease() -> None:
    # 5 s of work at 10 % would mean 45 s of rest: the lease (30 s) would lapse.
    assert wait_after_step(10, 5.0, rate=50.0, duty=0.1, longest=15.0) == pytest.approx(15.0)
