"""`GET /api/ws`: the realtime WebSocket (protocol in docs/REALTIME.md). Thin:
find the instance's realtime component and hand the socket to a `Session`."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from parley.errors import TooManyRequests, error_body
from parley.realtime.handler import Session
from parley.realtime.lifecycle import REALTIME, Realtime
from parley.realtime.schemas import CloseCode
from parley.security.throttle import SignInThrottle
from parley.state import AppState

router = APIRouter(tags=["realtime"])


@router.websocket("/api/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.parley
    realtime: Realtime | None = state.extras.get(REALTIME)
    if realtime is None:
        await websocket.close(int(CloseCode.INTERNAL_ERROR), "realtime is not running")
        return
    if not await _admitted(websocket):
        return
    settings = state.settings
    keys = [settings.jwt_secret, *settings.jwt_previous_secrets]
    session = Session(websocket, realtime.service, realtime.hub, realtime.config, keys)
    await session.run()


async def _admitted(websocket: WebSocket) -> bool:
    """Refuse the upgrade with 429 and Retry-After when this client address
    has opened too many connections (PARLEY_WS_CONNECT_LIMIT_IP)."""
    throttle: SignInThrottle | None = getattr(websocket.app.state, "sign_in_throttle", None)
    if throttle is None:
        return True
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
