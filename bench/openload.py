"""An open-loop load of DM sends and history reads through the HTTP API, and
its statistics.

Each request is launched on schedule as its own task and its latency is
measured from its scheduled start (no coordinated omission: queueing anywhere,
the client's included, counts). The generator also records how late it
launched each request, so a run can tell when the client, not the server, fell
behind. It measures; it judges nothing but the one latency target it is given.
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from bench.common import percentile
from parley.devstack.factories import Person

# Connections the generator keeps open; a request waiting for one still counts
# its wait (latency runs from its scheduled start).
CONNECTIONS = 256
REQUEST_TIMEOUT_S = 30.0
P99_TARGET_MS = 250.0  # issue #10: DM p99 under this, sends and reads
LATE_MS = 10.0  # a launch this late means the generator did not keep the schedule


def error_code(response: httpx.Response) -> str:
    """The app's error code (`{"error": "<Code>", ...}`), e.g. `Overloaded` for a
    shed request; "" when the body is not that."""
    try:
        return str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""


@dataclass
class Sample:
    phase: str
    kind: str
    late_ms: float  # launch time minus scheduled start
    latency_ms: float  # from the scheduled start to the full response
    status: int
    source: str  # X-Data-Source; for a failure, the error code or exception name


@dataclass
class Load:
    """Open loop at `rate`, sends and reads alternating, each send and the read
    after it in the next of `rooms` (sender, reader, conversation); `phase` tags
    each request with the phase it was scheduled in."""

    client: httpx.AsyncClient
    rooms: Sequence[tuple[Person, Person, uuid.UUID]]
    rate: float
    phase: str = "warmup"
    samples: list[Sample] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        # The requests go through aiohttp, not `client` (httpx, kept for its base
        # URL): httpx's pool spends CPU per request that grows with the open
        # connections, so after a stall the generator on these 2 CPUs fell ever
        # further behind (seconds) while the app answered in under one.
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(
            str(self.client.base_url), connector=connector, timeout=timeout
        ) as session:
            started, i = time.monotonic(), 0
            while not stop.is_set():
                scheduled = started + i / self.rate
                delay = scheduled - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                kind = "send" if i % 2 == 0 else "read"
                task = asyncio.create_task(self._one(session, kind, scheduled, i))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                i += 1
            if self._tasks:
                await asyncio.wait(self._tasks)

    async def _one(
        self, session: aiohttp.ClientSession, kind: str, scheduled: float, i: int
    ) -> None:
        phase, late = self.phase, (time.monotonic() - scheduled) * 1000
        sender, reader, dm = self.rooms[(i // 2) % len(self.rooms)]
        url = f"/api/rooms/{dm}/messages"
        body: Any = None
        try:
            if kind == "send":
                request = session.post(url, json={"content": f"load {i}"}, headers=sender.headers)
            else:
                request = session.get(url, params={"limit": "50"}, headers=reader.headers)
            async with request as response:
                status, source = response.status, response.headers.get("X-Data-Source", "")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            status, source = 0, type(exc).__name__
        latency = (time.monotonic() - scheduled) * 1000
        if status not in (200, 201) and isinstance(body, dict):
            source = str(body.get("error", source))
        if kind == "send" and status == 201:
            self.acknowledged.add(body["id"])
        self.samples.append(Sample(phase, kind, late, latency, status, source))


@dataclass(frozen=True)
class Stats:
    sends: int
    send_p50: float
    send_p99: float
    reads: int
    read_p50: float
    read_p99: float
    failed: int
    late_p99: float
    late: int  # launched more than LATE_MS after schedule
    sources: str
    failures: str  # the failed requests by status (0: no answer)

    @property
    def failed_cell(self) -> str:
        return f"{self.failed} ({self.failures})" if self.failed else "0"

    @property
    def p99(self) -> float:
        return max(self.send_p99, self.read_p99)

    @property
    def held(self) -> bool:
        return self.failed == 0 and self.p99 < P99_TARGET_MS


def stats(samples: Iterable[Sample]) -> Stats:
    mine = list(samples)
    send = [s.latency_ms for s in mine if s.kind == "send"]
    read = [s.latency_ms for s in mine if s.kind == "read"]
    late = [s.late_ms for s in mine]
    sources = collections.Counter(s.source for s in mine if s.kind == "read")
    failures = collections.Counter(
        f"{s.kind} {s.status or ''} {s.source}".replace("  ", " ")
        for s in mine
        if s.status not in (200, 201)
    )
    return Stats(
        len(send), percentile(send, 50), percentile(send, 99),
        len(read), percentile(read, 50), percentile(read, 99),
        sum(s.status not in (200, 201) for s in mine),
        percentile(late, 99), sum(x > LATE_MS for x in late),
        ", ".join(f"{k or '?'} x{v}" for k, v in sources.most_common()),
        ", ".join(f"{k} x{v}" for k, v in failures.most_common()),
    )  # fmt: skip


async def run_load(load: Load, body: Callable[[], Any]) -> None:
    """Run `load` while `body()` runs; wait for every request it launched."""
    stop = asyncio.Event()
    runner = asyncio.create_task(load.run(stop))
    try:
        await body()
    finally:
        load.phase = "done"
        stop.set()
        await runner
