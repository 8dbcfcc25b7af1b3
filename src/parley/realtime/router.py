"""`GET /api/ws`: the realtime WebSocket (protocol in docs/REALTIME.md). Thin:
hand the socket to a `Session` with this instance's realtime component."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from parley.errors import TooManyRequests, error_body
from parley.realtime.handler import Session
from parley.security.throttle import Throttle
from parley.state import AppState

router = APIRouter(tags=["realtime"])


@router.websocket("/api/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.parley
    if not await _admitted(websocket, state.throttle):
        return
    realtime, settings = state.realtime, state.settings
    keys = [settings.jwt_secret, *settings.jwt_previous_secrets]
    session = Session(
        websocket,
        realtime.service,
        realtime.hub,
        realtime.config,
        keys,
        state.revocations,
        state.throttle.before_ws_sign_in,
    )
    await session.run()


async def _admitted(websocket: WebSocket, throttle: Throttle) -> bool:
    """Refuse the upgrade with 429 and Retry-After when this client address
    has opened too many connections (PARLEY_WS_CONNECT_LIMIT_IP)."""
    ip = websocket.client.host if websocket.client else "unknown"
    try:
        await throttle.before_ws_connect(ip)
    except TooManyRequests as exc:
        body = error_body(exc.code, exc.detail)
        await websocket.send_denial_response(
            JSONResponse(body, status_code=exc.status_code, headers=exc.headers())
        )
        return False
    return True
