"""Notices when the event loop stops turning, and says where it is stuck.

Every request, deadline and breaker of an instance runs on one event loop: code
that holds it (a CPU-bound step, a blocking call, a long garbage collection)
delays them all, and the deadlines it makes others miss blame the stores. A
heartbeat task wakes every `interval` and measures how late it woke: each time
that is `threshold` or more, it counts a stall and logs `event_loop_unblocked`
with its length. A daemon thread reads the heartbeat's stamp four times per
interval; when the loop has not stamped for `threshold`, it takes the loop
thread's stack and logs `event_loop_blocked` with it (best effort: a stall
just over the threshold may end before the thread looks). Garbage collections
longer than `threshold` are logged as `gc_pause`, with their generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import structlog

from parley.resilience import Metrics

log = structlog.get_logger("parley.loopwatch")
# Frames of the stuck stack worth a log line: the innermost ones.
STACK_DEPTH = 12


class LoopWatch:
    def __init__(self, metrics: Metrics, *, interval: float = 0.05, threshold: float = 0.2) -> None:
        self.metrics = metrics
        self.interval = interval
        self.threshold = threshold
        self.stalls = 0
        self._beat = time.monotonic()
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gc_started = 0.0

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Watch the running loop for the duration of the block."""
        self._start()
        heartbeat = asyncio.ensure_future(self._heartbeat())
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._stop_watching()

    async def _heartbeat(self) -> None:
        while True:
            self._beat = slept_at = time.monotonic()
            await asyncio.sleep(self.interval)
            late = time.monotonic() - slept_at - self.interval
            if late >= self.threshold:
                self.stalls += 1
                self.metrics.set_gauge("parley_event_loop_stalls", self.stalls)
                log.warning("event_loop_unblocked", seconds=round(late, 3))

    def _start(self) -> None:
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="parley-loopwatch", daemon=True)
        self._thread.start()
        gc.callbacks.append(self._on_gc)

    def _stop_watching(self) -> None:
        self._stop.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _watch(self) -> None:
        reported_beat: float | None = None
        while not self._stop.wait(self.interval / 4):
            beat = self._beat
            late = time.monotonic() - beat
            if late >= self.threshold and reported_beat != beat:
                reported_beat = beat
                self._blocked(late)

    def _blocked(self, late: float) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        stack = traceback.format_stack(frame)[-STACK_DEPTH:] if frame is not None else []
        log.warning("event_loop_blocked", seconds=round(late, 3), stack="".join(stack))

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
            return
        took = time.monotonic() - self._gc_started
        if took >= self.threshold:
            log.warning(
                "gc_pause",
                seconds=round(took, 3),
                generation=info.get("generation"),
                collected=info.get("collected"),
            )
