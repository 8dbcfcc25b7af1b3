"""Identifiers: UUIDv7 made by the app, so both stores hold a record under one id
and ids sort by creation time."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """A new time-ordered UUIDv7 as a standard-library `uuid.UUID`."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None when it is not one (callers answer 404/422)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
