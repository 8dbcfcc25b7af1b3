"""Group commit (`Coalescer`): batching, per-item outcomes, failures, abandonment."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence

import pytest

from parley.resilience import Coalescer
from parley.storage.errors import StorageUnavailable


class Recorder:
    """A batch writer that records its batches and doubles each item."""

    def __init__(self, delay: float = 0.01, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail_on = fail_on
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [item * 2 for item in items]


async def test_a_lone_item_goes_out_at_once() -> None:
    writer = Recorder()
    coalescer = Coalescer(writer)
    assert await asyncio.wait_for(coalescer.submit(21), 1) == 42
    assert writer.batches == [[21]]


async def test_items_arriving_during_a_write_share_the_next_one() -> None:
    writer = Recorder()
    coalescer = Coalescer(writer, max_in_flight=1)
    first = asyncio.ensure_future(coalescer.submit(0))
    await asyncio.sleep(0.001)  # 0 is being written
    results = await asyncio.gather(first, *(coalescer.submit(i) for i in range(1, 10)))
    assert results == [i * 2 for i in range(10)]
    assert writer.batches == [[0], list(range(1, 10))]


async def test_items_submitted_together_go_out_together() -> None:
    writer = Recorder()
    coalescer = Coalescer(writer)
    await asyncio.gather(*(coalescer.submit(i) for i in range(10)))
    assert writer.batches == [list(range(10))]


async def test_batches_are_bounded_and_so_are_writes_in_flight() -> None:
    writer = Recorder()
    coalescer = Coalescer(writer, max_batch=4, max_in_flight=2)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(20)))
    assert results == [i * 2 for i in range(20)]
    assert max(len(batch) for batch in writer.batches) == 4
    assert writer.most_in_flight == 2
    assert sorted(i for batch in writer.batches for i in batch) == list(range(20))


async def test_unavailability_fails_the_whole_batch() -> None:
    async def down(items: Sequence[int]) -> list[int]:
        raise StorageUnavailable("down", store="mongodb", operation="test")

    coalescer = Coalescer(down)
    outcomes = await asyncio.gather(
        *(coalescer.submit(i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, StorageUnavailable) for o in outcomes)


async def test_a_bad_item_does_not_fail_its_neighbours() -> None:
    writer = Recorder(fail_on=3)
    coalescer = Coalescer(writer, max_in_flight=1)
    outcomes = await asyncio.gather(
        *(coalescer.submit(i) for i in range(6)), return_exceptions=True
    )
    assert [o for o in outcomes if isinstance(o, ValueError)] == [outcomes[3]]
    assert [o for i, o in enumerate(outcomes) if i != 3] == [0, 2, 4, 8, 10]
    assert [3] in writer.batches  # retried on its own


async def test_an_abandoned_item_is_left_out_of_its_batch() -> None:
    writer = Recorder(delay=0.05)
    coalescer = Coalescer(writer, max_in_flight=1)
    first = asyncio.ensure_future(coalescer.submit(1))
    await asyncio.sleep(0.01)  # 1 is being written; 2 waits for the next batch
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(coalescer.submit(2), 0.01)
    assert await coalescer.submit(3) == 6
    assert await first == 2
    assert [2] not in writer.batches and all(2 not in batch for batch in writer.batches)


async def test_a_broken_writer_fails_its_callers_instead_of_leaving_them_waiting() -> None:
    async def answers_too_few(items: Sequence[int]) -> list[int]:
        return list(items)[:-1]

    coalescer = Coalescer(answers_too_few)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True), 1
    )
    assert all(isinstance(o, ValueError) for o in outcomes)
    assert await asyncio.wait_for(Coalescer(Recorder()).submit(1), 1) == 2


async def test_batches_do_not_run_in_the_context_of_the_caller_that_started_them() -> None:
    """The drain that writes batches outlives the call that started it, so it
    must not carry that caller's context variables. `pymongo.timeout` is one:
    under the first sender's timeout every later batch carried its deadline
    (PyMongo keeps the earliest of nested ones) and failed at once as "ran past
    its deadline" once it had passed, however fast the store."""
    callers_only: contextvars.ContextVar[str] = contextvars.ContextVar("callers_only")
    seen: list[str] = []

    async def write(items: Sequence[int]) -> list[int]:
        seen.append(callers_only.get("unset"))
        await asyncio.sleep(0.01)
        return list(items)

    coalescer = Coalescer(write)

    async def first() -> int:
        callers_only.set("the first caller's")
        return await coalescer.submit(0)

    results = await asyncio.gather(first(), *(coalescer.submit(i) for i in range(1, 4)))
    assert results == [0, 1, 2, 3]
    assert seen and set(seen) == {"unset"}
