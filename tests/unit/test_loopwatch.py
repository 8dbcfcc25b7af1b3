"""The loop watch names the code that holds the event loop (the real loop and
a real blocking call: nothing stands in)."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from parley.loopwatch import LoopWatch
from parley.resilience import Metrics


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call where an await belongs


async def test_a_blocked_loop_is_reported_with_the_stack_that_blocks_it() -> None:
    metrics = Metrics()
    watch = LoopWatch(metrics, interval=0.02, threshold=0.1)
    with capture_logs() as logs:
        async with watch.watching():
            await asyncio.sleep(0.1)
            _hold_the_loop(0.4)
            await asyncio.sleep(0.1)
    # Only the blocking call is asserted on: a busy test machine may pause the
    # loop briefly elsewhere, and that is reported too, with its own stack.
    blocked = [e for e in logs if e["event"] == "event_loop_blocked"]
    assert len([e for e in blocked if "_hold_the_loop" in e["stack"]]) == 1
    unblocked = [e["seconds"] for e in logs if e["event"] == "event_loop_unblocked"]
    assert unblocked and max(unblocked) >= 0.3
    assert metrics.gauges["parley_event_loop_stalls"] == len(unblocked) == watch.stalls
