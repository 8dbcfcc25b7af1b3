"""Helpers for the realtime tests (no tests here): serving an app on a real
loopback port with uvicorn, starting `parley serve` subprocesses, and a small
WebSocket client that reads typed frames with deadlines."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from parley.devstack.ports import free_port
from parley.security.setup import uvicorn_options
from parley.settings import Settings
from tests.support import eventually


@asynccontextmanager
async def serving(app: FastAPI, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields the base http URL."""
    port = free_port()
    # The same server-level bounds `parley serve` uses, when the app is running.
    state = getattr(app.state, "parley", None)
    options = uvicorn_options(state.settings) if state is not None else {}
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        log_config=None,
        ws_ping_interval=None,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()
        return server.started

    await eventually(started, timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _ready_instance(url: str) -> set[str]:
    """The worker that answered `/api/health`, if it hears the other instances
    and has made its first liveness check. Its LISTEN connection is made in
    the background after startup (an event sent before that reaches nobody),
    and a peer's connection that goes away after that first check is a real
    loss, which the subscribers hear of as `resync` (`instance_lost`)."""
    try:
        body = httpx.get(f"{url}/api/health", timeout=2).json()
        realtime = body["details"]["realtime"]
        ready = realtime["listening"] and realtime["peers"] is not None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return set()
    return {body["instance"]} if ready else set()


@contextmanager
def parley_process(
    settings: Settings, log_path: str, workers: int = 1, **overrides: str
) -> Iterator[str]:
    """`parley serve` in a subprocess against the test databases; yields its URL
    once every worker listens for the other instances' events (`_ready_instance`).
    `overrides` are extra environment variables."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "MONGO_URL": settings.mongo_url.get_secret_value(),
        "PARLEY_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "PARLEY_LOG_JSON": "true",
        **overrides,
    }
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        ready: set[str] = set()
        while len(ready) < workers:
            if process.poll() is not None:
                raise RuntimeError(f"parley serve exited; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"parley serve did not start listening; see {log_path}")
            ready |= _ready_instance(url)
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/api/ws" + (f"?{query}" if query else "")


class Client:
    """A WebSocket client speaking Parley's realtime protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Read until a frame of `type_` (matching `fields`) arrives; fail on any
        other frame except server pings."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(deadline - time.monotonic(), 0.01))
            if frame["type"] == "ping":
                continue
            assert frame["type"] == type_, frame
            for key, value in fields.items():
                assert frame.get(key) == value, (key, frame)
            return frame

    async def nothing(self, within: float = 0.3) -> None:
        """Assert no frame (other than pings) arrives within `within` seconds."""
        try:
            while True:
                frame = await self.recv(within)
                assert frame["type"] == "ping", frame
        except TimeoutError:
            return

    async def subscribe(self, room_id: object) -> dict[str, Any]:
        await self.send({"op": "subscribe", "roomId": str(room_id)})
        return await self.recv()

    async def closed_with(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None


@asynccontextmanager
async def client(base: str, token: str | None = None, **kwargs: Any) -> AsyncIterator[Client]:
    """A connected client, authenticated with `token` (first frame) when given."""
    async with connect(ws_url(base), open_timeout=5, **kwargs) as ws:
        c = Client(ws)
        if token is not None:
            await c.send({"op": "auth", "token": token})
            await c.expect("authenticated")
        yield c


async def post_json(
    base: str, path: str, token: str, body: dict[str, Any], method: str = "POST"
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        return await http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
