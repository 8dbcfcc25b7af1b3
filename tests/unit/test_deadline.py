"""`within_deadline`: the caller's answer comes at the deadline; what happens to
the operation then depends on `backstop`."""

from __future__ import annotations

import asyncio

import pytest

from parley.storage.deadline import NEVER, within_deadline


class Operation:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.finished = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self) -> str:
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished.set()
        return "done"


async def test_an_answer_within_the_deadline_is_returned() -> None:
    assert await within_deadline(Operation(0.01)(), 1.0) == "done"


async def test_without_backstop_the_operation_is_cancelled_at_the_deadline() -> None:
    op = Operation(0.3)
    with pytest.raises(TimeoutError):
        await within_deadline(op(), 0.05)
    await asyncio.wait_for(op.cancelled.wait(), 1.0)
    assert not op.finished.is_set()


async def test_with_backstop_the_operation_is_left_to_finish_on_its_own() -> None:
    op = Operation(0.15)
    with pytest.raises(TimeoutError):
        await within_deadline(op(), 0.05, backstop=1.0)
    await asyncio.wait_for(op.finished.wait(), 1.0)
    assert not op.cancelled.is_set()


async def test_with_backstop_an_operation_that_overruns_is_cancelled_at_last() -> None:
    op = Operation(5.0)
    with pytest.raises(TimeoutError):
        await within_deadline(op(), 0.05, backstop=0.1)
    await asyncio.wait_for(op.cancelled.wait(), 1.0)


async def test_a_cancelled_caller_leaves_a_backstopped_operation_running() -> None:
    op = Operation(0.15)
    caller = asyncio.ensure_future(within_deadline(op(), 1.0, backstop=1.0))
    await asyncio.sleep(0.02)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait_for(op.finished.wait(), 1.0)
    assert not op.cancelled.is_set()


async def test_never_leaves_an_operation_running_however_long_it_takes() -> None:
    """`NEVER` (PyMongo's operations): neither a missed deadline nor a
    cancelled caller cancels the operation, long past any backstop."""
    late, abandoned = Operation(0.4), Operation(0.4)
    with pytest.raises(TimeoutError):
        await within_deadline(late(), 0.01, backstop=NEVER)
    caller = asyncio.ensure_future(within_deadline(abandoned(), 1.0, backstop=NEVER))
    await asyncio.sleep(0.02)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for op in (late, abandoned):
        await asyncio.wait_for(op.finished.wait(), 2.0)
        assert not op.cancelled.is_set()
