"""404s: a malformed id or code in a URL answers 404, exactly like an id that
names nothing the caller may see, and never reaches the database; a row that
vanished under a concurrent delete answers 404 too, never a 500."""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

from parley.errors import NotFound
from parley.ids import parse_id

T = TypeVar("T")

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


def found_or_404(row: T | None, what: str) -> T:
    """`row`, or `NotFound("No such <what>.")` when a lookup found nothing."""
    if row is None:
        raise NotFound(f"No such {what}.")
    return row
