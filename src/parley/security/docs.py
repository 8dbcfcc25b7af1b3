"""`/docs` served entirely by Parley: Swagger UI's page with its script, style
sheet and icon from the `swagger-ui-py` package's files, mounted under
`/docs/assets`, so opening the docs loads nothing from a CDN. FastAPI's own
`/docs` and `/redoc` (both CDN-loaded) are turned off in `parley.app`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
_NEEDED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def swagger_ui_dir() -> Path:
    return Path(str(files("swagger_ui").joinpath("static")))


def install_docs(app: FastAPI) -> None:
    static = swagger_ui_dir()
    missing = [name for name in _NEEDED if not (static / name).is_file()]
    if missing:  # a packaging change upstream; fail at startup, not in a browser
        raise RuntimeError(f"swagger-ui-py lacks {', '.join(missing)} in {static}")
    app.mount(ASSETS, StaticFiles(directory=static), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} - API docs"

    # The endpoint must not close over `app`: FastAPI caches every endpoint in
    # a module-level LRU of 4,096 entries, which would keep each app (and its
    # pools and caches) alive in a process that builds many, as the tests do.
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
