"""Serves the web client's committed static files: `/` (the chat), `/status`
(the operator's page) and `/static/<file>`.

Only files that exist under `static/` are served; every page carries a strict
Content-Security-Policy (same origin only), so the client can load nothing from
elsewhere and no injected markup could run a script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse

from parley.errors import NotFound

STATIC: Final = Path(__file__).parent / "static"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
TYPES: Final = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _file(relative: str) -> FileResponse:
    path = (STATIC / relative).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        raise NotFound("No such file.")
    return FileResponse(path, headers=HEADERS, media_type=TYPES.get(path.suffix))


@router.get("/")
async def chat() -> FileResponse:
    return _file("index.html")


@router.get("/status")
async def status() -> FileResponse:
    return _file("status.html")


@router.get("/static/{name:path}")
async def static(name: str) -> FileResponse:
    return _file(name)
