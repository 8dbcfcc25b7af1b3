"""Notices when the event loop stops turning, and says where it is stuck.

Every request, deadline and breaker of an instance runs on one event loop: code
that holds it (a CPU-bound step, a blocking call, a long garbage collection)
delays them all, and the deadlines it makes others miss blame the stores. A
heartbeat task stamps the time every `interval`; a daemon thread reads the
stamp. When the loop has not stamped for `threshold`, the thread takes the
loop thread's stack once and logs `event_loop_blocked` with it; when the loop
turns again, `event_loop_unblocked` says for how long. Garbage collections
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
            self._stop_watching()

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(self.interval)

    def _start(self) -> None:
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
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
        while not self._stop.wait(self.interval):
            beat = self._beat
            late = time.monotonic() - beat
            if late >= self.threshold and reported_beat != beat:
                reported_beat = beat
                self._blocked(late)
            elif reported_beat is not None and reported_beat != beat:
                log.warning("event_loop_unblocked", seconds=round(beat - reported_beat, 3))
                reported_beat = None

    def _blocked(self, late: float) -> None:
        self.stalls += 1
        self.metrics.set_gauge("parley_event_loop_stalls", self.stalls)
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
