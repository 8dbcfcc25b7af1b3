"""Keep `?token=<jwt>` out of the logs.

uvicorn logs every WebSocket handshake with its query string
(`"WebSocket /api/ws?token=…" [accepted]`), so a client authenticating with
the query parameter would put a bearer token in the server's log. This filter,
installed on uvicorn's logger when realtime starts, replaces the value.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(?i)([?&]token=)[^&\s\"']+")
REDACTED = r"\1[redacted]"
LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    return _TOKEN.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_token_redaction() -> None:
    """Idempotent: one filter per logger however many apps start."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
