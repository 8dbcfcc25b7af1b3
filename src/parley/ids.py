"""Identifiers: UUIDv7 made by the app, so both stores hold a record under one id
and ids sort by creation time."""

from __future__ import annotations

import re
import uuid

import uuid_utils

# The canonical text form, as every id Parley renders is written.
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_CANONICAL = re.compile(UUID_PATTERN)


def new_id() -> uuid.UUID:
    """A new time-ordered UUIDv7 as a standard-library `uuid.UUID`."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None when it is not one (callers answer 404/422)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def parse_canonical_id(value: str) -> uuid.UUID | None:
    """Like `parse_id`, for the canonical form only (`UUID_PATTERN`, what the
    OpenAPI document states for a query parameter)."""
    return uuid.UUID(value) if _CANONICAL.fullmatch(value) else None
