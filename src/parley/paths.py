"""404s: a malformed id or code in a URL answers 404, exactly like an id that
names nothing the caller may see, and never reaches the database; a row that
vanished under a concurrent delete answers 404 too, never a 500."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, TypeVar

from fastapi import Path

from parley.errors import NotFound
from parley.ids import UUID_PATTERN, parse_canonical_id

T = TypeVar("T")

INVITE_CODE_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_INVITE_CODE = re.compile(INVITE_CODE_PATTERN)

# What the OpenAPI document says of an id in a path: a UUID in its canonical
# form. Anything else answers 404 (`id_or_404`), like an id that names nothing.
PathId = Annotated[str, Path(json_schema_extra={"format": "uuid", "pattern": UUID_PATTERN})]
PathInviteCode = Annotated[str, Path(json_schema_extra={"pattern": INVITE_CODE_PATTERN})]


def id_or_404(value: str, what: str) -> uuid.UUID:
    """The UUID in a path segment, or `NotFound("No such <what>.")`."""
    parsed = parse_canonical_id(value)
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
