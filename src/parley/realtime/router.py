"""`GET /api/ws`: the realtime WebSocket (protocol in docs/REALTIME.md). Thin:
hand the socket to a `Session` with this instance's realtime component."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from parley.realtime.handler import Session
from parley.state import AppState

router = APIRouter(tags=["realtime"])


@router.websocket("/api/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.parley
    realtime = state.realtime
    session = Session(
        websocket, realtime.service, realtime.hub, realtime.config, state.settings.jwt_secret
    )
    await session.run()
