"""`GET /api/ws`: the realtime WebSocket (protocol in docs/REALTIME.md). Thin:
find the instance's realtime component and hand the socket to a `Session`."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from parley.realtime.handler import Session
from parley.realtime.lifecycle import REALTIME, Realtime
from parley.realtime.schemas import CloseCode
from parley.state import AppState

router = APIRouter(tags=["realtime"])


@router.websocket("/api/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.parley
    realtime: Realtime | None = state.extras.get(REALTIME)
    if realtime is None:
        await websocket.close(int(CloseCode.INTERNAL_ERROR), "realtime is not running")
        return
    settings = state.settings
    keys = [settings.jwt_secret, *settings.jwt_previous_secrets]
    session = Session(websocket, realtime.service, realtime.hub, realtime.config, keys)
    await session.run()
