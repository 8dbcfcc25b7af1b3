"""Structured logging: JSON lines (or console lines in a terminal) via structlog,
with the standard library's loggers routed through the same renderer.

What a log line may never contain (docs/SECURITY.md):
- local variables: tracebacks are rendered plainly, never with rich's
  `show_locals` (structlog's console default), which printed the JWT key and
  the database password from a settings object in a failing frame;
- a configured secret: every rendered line is scanned for the values in
  `Settings.secret_values()` and each is replaced with `[redacted]`;
- raw control characters: request paths and other strings a client controls
  are escaped (`\\x1b`), so nobody can forge or hide log lines in a terminal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from parley.settings import Settings

REDACTED = "[redacted]"


def escape_control(text: str) -> str:
    """`text` with C0/C1 control characters (and DEL) escaped as `\\xNN`."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode()
        for char in text
    )


def _escape_values(_: Any, __: str, event_dict: Any) -> Any:
    """Escape control characters in every string value (the traceback is not a
    string yet at this point, and keeps its newlines)."""
    for key, value in event_dict.items():
        if isinstance(value, str) and not value.isprintable():
            event_dict[key] = escape_control(value)
    return event_dict


class _Redact:
    """The last processor: masks secret values in the rendered line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a URL is masked whole before its password is.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, _: Any, __: str, line: Any) -> Any:
        if isinstance(line, str):
            for secret in self.secrets:
                if secret in line:
                    line = line.replace(secret, REDACTED)
        return line


def configure_logging(
    level: str = "info", *, json: bool = True, settings: Settings | None = None
) -> None:
    secrets = settings.secret_values() if settings is not None else []
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _escape_values,
    ]
    renderer: structlog.types.Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
        # Tracebacks as text, without locals, inside the JSON line.
        shared_tail: list[structlog.types.Processor] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        shared_tail = []
    structlog.configure(
        # Below the level, an event is dropped before any other processor runs:
        # the per-operation debug lines would otherwise each pay for a timestamp
        # and a copy of the context only for the standard library to drop them.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *shared_tail,
                renderer,
                _Redact(secrets),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "pymongo", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
