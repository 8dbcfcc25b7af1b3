"""Path parameters: a malformed id or code in a URL answers 404, exactly like an
id that names nothing the caller may see, and never reaches the database."""

from __future__ import annotations

import re
import uuid

from parley.errors import NotFound
from parley.ids import parse_id

_INVITE_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def id_or_404(value: str, what: str) -> uuid.UUID:
    """The UUID in a path segment, or `NotFound("No such <what>.")`."""
    parsed = parse_id(value) if len(value) <= 64 else None
    if parsed is None:
        raise NotFound(f"No such {what}.")
    return parsed


def invite_code_or_404(value: str) -> str:
    if not _INVITE_CODE.fullmatch(value):
        raise NotFound("No such invite.")
    return value
