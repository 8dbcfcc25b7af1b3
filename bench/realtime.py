"""Realtime delivery latency across two app instances.

Two real `parley serve` processes on a fresh dev stack. 200 WebSocket
subscribers, half connected to each instance. An open-loop sender posts
messages through HTTP at a fixed rate, alternating the instance it posts to;
every delivery is timed from the moment the sender received the send's
acknowledgement (the 201) to the moment the subscriber received the event.
A delivery that arrives before the acknowledgement counts as 0 ms (the event
is published before the HTTP response is written).

Scenarios:
- pairs: 100 two-person groups, one member on each instance, both subscribed:
  every message reaches one subscriber in-process and one through NOTIFY.
  Group messages are written to PostgreSQL only, so this isolates delivery.
- dm: the same shape with 100 DMs (each send is a dual write to MongoDB and
  PostgreSQL, so the send path, not delivery, limits the rate).
- channel: one channel with all 200 subscribers (fan-out).

    .venv/bin/python -m bench.realtime            # every scenario
    .venv/bin/python -m bench.realtime pairs      # only the named ones
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    bench_settings,
    bench_stack,
    describe_servers,
    fmt,
    machine,
    markdown_table,
    mongo_server_version,
    percentile,
    raw_clients,
    write_section,
)
from parley.app import build_state
from parley.cli.migrate import run_migrations
from parley.devstack.app_process import AppProcess
from parley.devstack.factories import make_dm, make_group, make_person, make_server
from parley.settings import Settings

SUBSCRIBERS = 200
SCENARIOS = [("pairs", 100.0), ("pairs", 50.0), ("dm", 25.0), ("channel", 20.0)]  # (name, msg/s)
SECONDS = 20.0
WARMUP_MESSAGES = 20
DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class Sub:
    profile_id: uuid.UUID
    token: str
    instance: int  # 0 or 1
    room: uuid.UUID


@dataclass
class Run:
    scenario: str
    rate: float
    acked: dict[str, float] = field(default_factory=dict)  # message id -> ack time
    started: dict[str, float] = field(default_factory=dict)
    posted_via: dict[str, int] = field(default_factory=dict)
    received: list[tuple[str, float, int]] = field(default_factory=list)  # id, t, instance
    failed_sends: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    expected: int = 0
    duration: float = 0.0


# -- data ------------------------------------------------------------------------------


async def make_people(settings: Settings) -> dict[str, list[Sub]]:
    """200 people; 100 DMs and 100 two-person groups pairing them across
    instances; one server whose only channel has all of them. Returns each
    scenario's subscriptions."""
    state = build_state(settings)
    dm_subs: list[Sub] = []
    pair_subs: list[Sub] = []
    channel_subs: list[Sub] = []
    try:
        people = [
            await make_person(state, f"P{i}", token_seconds=4 * 3600) for i in range(SUBSCRIBERS)
        ]
        for one, two in zip(people[::2], people[1::2], strict=True):
            dm = await make_dm(state, one, two)
            dm_subs += [Sub(one.id, one.token, 0, dm), Sub(two.id, two.token, 1, dm)]
            group = await make_group(state, one, [two])
            pair_subs += [Sub(one.id, one.token, 0, group), Sub(two.id, two.token, 1, group)]
        members = {person: "GUEST" for person in people[1:]}
        _, channel = await make_server(state, people[0], members)
        channel_subs = [Sub(p.id, p.token, i % 2, channel) for i, p in enumerate(people)]
    finally:
        await state.mongo.close()
        await state.postgres.dispose()
    return {"dm": dm_subs, "pairs": pair_subs, "channel": channel_subs}


# -- subscribers -----------------------------------------------------------------------


async def subscribe(url: str, sub: Sub) -> ClientConnection:
    ws = await connect(url.replace("http://", "ws://") + "/api/ws", max_size=2**20)
    await ws.send(json.dumps({"op": "auth", "token": sub.token}))
    for _ in range(40):
        await ws.send(json.dumps({"op": "subscribe", "roomId": str(sub.room)}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] in ("subscribed", "error"):
                break
        if frame["type"] == "subscribed":
            return ws
        if frame["error"] != "StorageUnavailable":
            raise RuntimeError(f"subscribe failed: {frame}")
        await asyncio.sleep(0.5)  # the database is overloaded or its breaker is open
    raise RuntimeError(f"subscribe kept failing: {frame}")


async def healthy(urls: list[str]) -> None:
    """Wait until both instances report both databases up (after a scenario
    that overloaded them, breakers may still be open)."""
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(120):
            bodies = [(await http.get(f"{url}/api/health")).json() for url in urls]
            if all(body["status"] == "healthy" for body in bodies):
                return
            await asyncio.sleep(0.5)
    raise RuntimeError("the instances did not become healthy")


# -- the sender ------------------------------------------------------------------------


async def send_all(
    run: Run, http: list[httpx.AsyncClient], subs: list[Sub], count: int, measured: bool
) -> None:
    rooms = sorted({s.room for s in subs})
    authors = {room: [s for s in subs if s.room == room] for room in rooms}
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        room = rooms[i % len(rooms)]
        author = authors[room][i % len(authors[room])]
        via = i % 2
        started = time.perf_counter()
        try:
            response = await http[via].post(
                f"/api/rooms/{room}/messages",
                json={"content": f"bench {i}", "nonce": uuid.uuid4().hex},
                headers={"Authorization": f"Bearer {author.token}"},
            )
        except httpx.HTTPError as exc:
            run.failed_sends += 1
            run.failures[type(exc).__name__] += 1
            return
        acked = time.perf_counter()
        if response.status_code != 201:
            run.failed_sends += 1
            run.failures[str(response.status_code)] += 1
            return
        if measured:
            mid = response.json()["id"]
            run.acked[mid], run.started[mid], run.posted_via[mid] = acked, started, via
            run.expected += len(authors[room])

    t0 = time.perf_counter()
    for i in range(count):
        delay = t0 + i / run.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    if measured:
        run.duration = time.perf_counter() - t0


async def scenario(urls: list[str], subs: list[Sub], name: str, rate: float) -> Run:
    run = Run(name, rate)
    warm = Run(name, rate)
    sockets = []
    for start in range(0, len(subs), 20):  # connect in small batches
        batch = subs[start : start + 20]
        sockets += await asyncio.gather(*(subscribe(urls[s.instance], s) for s in batch))
    sink = [Run(name, rate)]  # warm-up receipts go here, then the real run's list
    listeners = [
        asyncio.create_task(listen_into(ws, s.instance, sink))
        for ws, s in zip(sockets, subs, strict=True)
    ]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    http = [httpx.AsyncClient(base_url=u, timeout=10, limits=limits) for u in urls]
    try:
        await send_all(warm, http, subs, WARMUP_MESSAGES, measured=False)
        await asyncio.sleep(1.0)
        sink[0] = run
        await send_all(run, http, subs, int(rate * SECONDS), measured=True)
        deadline = time.perf_counter() + DRAIN_SECONDS
        while len(run.received) < run.expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        for client in http:
            await client.aclose()
    return run


async def listen_into(ws: ClientConnection, instance: int, sink: list[Run]) -> None:
    async for raw in ws:
        now = time.perf_counter()
        frame = json.loads(raw)
        if frame.get("type") == "message.created":
            sink[0].received.append((frame["message"]["id"], now, instance))
        elif frame.get("type") == "ping":
            await ws.send('{"op":"pong"}')


# -- report ----------------------------------------------------------------------------


def rows(run: Run) -> list[list[object]]:
    groups: dict[str, list[float]] = defaultdict(list)
    from_start: list[float] = []
    for mid, t, instance in run.received:
        if mid not in run.acked:
            continue
        path = "same instance" if instance == run.posted_via[mid] else "other instance"
        latency = max(0.0, t - run.acked[mid]) * 1000
        groups[path].append(latency)
        groups["all"].append(latency)
        from_start.append((t - run.started[mid]) * 1000)
    send_ms = [(run.acked[m] - run.started[m]) * 1000 for m in run.acked]
    out: list[list[object]] = []
    for path in ("all", "same instance", "other instance"):
        values = groups[path]
        first = path == "all"
        out.append(
            [
                run.scenario if first else "",
                fmt(run.rate, 0) if first else "",
                f"{len(run.acked)} / {run.failed_sends}" if first else "",
                fmt(percentile(send_ms, 99)) if first else "",
                path,
                len(values),
                fmt(percentile(values, 50)),
                fmt(percentile(values, 99)),
                fmt(max(values) if values else float("nan")),
                fmt(percentile(from_start, 99)) if first else "",
                fmt(len(values) / run.duration if run.duration else float("nan"), 0),
                (run.expected - len(groups["all"])) if first else "",
            ]
        )
    return out


HEADER = [
    "scenario",
    "msg/s offered",
    "sends ok / failed",
    "send p99 ms",
    "delivered to",
    "deliveries",
    "p50 ms",
    "p99 ms",
    "max ms",
    "p99 ms from send start",
    "delivered/s",
    "missing",
]


async def main() -> None:
    with bench_stack("realtime") as stack:
        settings = bench_settings(stack, PARLEY_LOG_LEVEL="warning")
        await run_migrations(settings)
        subscriptions = await make_people(settings)
        log_dir = Path(stack.data_dir) / "logs"
        log_dir.mkdir(exist_ok=True)
        apps = [AppProcess(settings, log_dir), AppProcess(settings, log_dir)]
        for app in apps:
            app.start()
        try:
            async with raw_clients(settings) as (_, mongo):
                servers = describe_servers(stack, await mongo_server_version(mongo))
            urls = [app.url for app in apps]
            runs = []
            chosen = sys.argv[1:] or [name for name, _ in SCENARIOS]
            for name, rate in SCENARIOS:
                if name not in chosen:
                    continue
                await healthy(urls)
                run = await scenario(urls, subscriptions[name], name, rate)
                runs.append(run)
                print(markdown_table(HEADER, rows(run)), dict(run.failures), flush=True)
        finally:
            for app in apps:
                app.stop()
    table = markdown_table(HEADER, [row for run in runs for row in rows(run)])
    print(table)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"""`bench/realtime.py`, run {when}.

- Machine: {machine()}. Everything (both databases, two `parley serve`
  processes, the {SUBSCRIBERS} WebSocket clients and the sender) on this one machine,
  which other work was also using during the run (load is not controlled).
- Servers: {servers}.
- Two `parley serve` instances, {SUBSCRIBERS} subscribers split evenly between them,
  {SECONDS:.0f} s of open-loop sends per scenario through HTTP (each send launched on
  schedule as its own task, 10 s timeout), alternating the instance posted to.
- Latency is from the sender receiving the send's 201 to the subscriber receiving
  the event, 0 when the event arrived first (an instance publishes in-process
  before it writes the HTTP response, so "same instance" is always 0);
  "p99 from send start" includes the send itself. "missing": acknowledged
  sends times subscribers of the room, minus deliveries seen.
- pairs: {SUBSCRIBERS // 2} two-person groups, one member on each instance, so every
  message is delivered once in-process and once through PostgreSQL NOTIFY
  (group messages live in PostgreSQL only). dm: the same shape with DMs, whose
  sends are dual writes to MongoDB and PostgreSQL. channel: one channel whose
  {SUBSCRIBERS} members are all subscribed (fan-out of 200 per message).
- Realtime settings at their defaults (send queue {settings.ws_send_queue_size}
  frames, NOTIFY channel `{settings.ws_notify_channel}`).

{table}
"""
    write_section("## Realtime", body)


if __name__ == "__main__":
    asyncio.run(main())
