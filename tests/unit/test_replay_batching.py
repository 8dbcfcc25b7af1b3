from parley.replication.batching import BatchSize


def test_starts_at_the_ceiling() -> None:
    assert BatchSize(500).current == 500


def test_halves_after_a_pass_past_its_deadline_down_to_the_floor() -> None:
    size = BatchSize(500, floor=25)
    seen = []
    for _ in range(6):
        size.ran_past_deadline()
        seen.append(size.current)
    assert seen == [250, 125, 62, 31, 25, 25]


def test_doubles_back_after_quick_passes_up_to_the_ceiling() -> None:
    size = BatchSize(500, floor=25, quick=1.0)
    for _ in range(5):
        size.ran_past_deadline()
    seen = []
    for _ in range(6):
        size.finished(0.2, full=True)
        seen.append(size.current)
    assert seen == [50, 100, 200, 400, 500, 500]


def test_a_slow_pass_that_finished_keeps_the_size() -> None:
    size = BatchSize(500, quick=1.0)
    size.ran_past_deadline()
    size.finished(3.0, full=True)
    assert size.current == 250


def test_a_ceiling_below_the_floor_is_the_floor_too() -> None:
    size = BatchSize(10, floor=25)
    size.ran_past_deadline()
    assert size.current == 10


def test_a_pass_that_found_less_than_its_size_keeps_the_size() -> None:
    size = BatchSize(500, quick=1.0)
    size.ran_past_deadline()
    size.finished(0.01, full=False)
    assert size.current == 250
