"""Change-feed cursors (`GET /api/rooms/{id}/changes`, and the `cursor` of every
realtime message event): opaque to clients, checked on the way in, shared by
the messages domain (which serves the feed) and realtime (whose events carry
one). This module knows the format only; where a read starts and which cursor
it answers with are the feed's rules (`messages/changes.py`).

A cursor is base64url (without padding) of compact JSON, one of two kinds:

    {"v":1,"m":<ms>}                    Resume: a high-water mark (ms since the
                                        epoch); the next read re-serves from
                                        mark - PARLEY_CHANGES_OVERLAP
    {"v":1,"a":[<ms>,"<id>"],"s":<ms>}  Continue a pass: after version a
                                        (updatedAt, id); s is the server's clock
                                        when the pass started

and the literal `now` is accepted on the way in (a Resume at the server's now).
Anything else is a `ValueError`, which the router answers with 422.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from parley.ids import parse_id

VERSION = 1
MAX_CHARS = 200  # a Continue cursor is about 110 characters
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True)
class Resume:
    """Resume after a high-water mark: re-serve from `mark - overlap`."""

    mark: datetime


@dataclass(frozen=True)
class Continue:
    """The next page of a pass that started at `started` (server clock)."""

    after: tuple[datetime, uuid.UUID]
    started: datetime


@dataclass(frozen=True)
class Now:
    """`since=now`: no changes, just a cursor to resume from later."""


ChangeCursor = Resume | Continue | Now


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _moment(value: Any) -> datetime:
    if type(value) is not int or not 0 <= value <= _MAX_MS:
        raise ValueError("not a time in milliseconds")
    return EPOCH + timedelta(milliseconds=value)


def encode(cursor: Resume | Continue) -> str:
    body: dict[str, Any] = {"v": VERSION}
    if isinstance(cursor, Resume):
        body["m"] = _ms(cursor.mark)
    else:
        at, message_id = cursor.after
        body["a"] = [_ms(at), str(message_id)]
        body["s"] = _ms(cursor.started)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str) -> ChangeCursor:
    """The cursor in `text`; ValueError for anything this module did not make."""
    if text == "now":
        return Now()
    if not 0 < len(text) <= MAX_CHARS or not text.isascii():
        raise ValueError("bad length")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, JSONDecodeError
        raise ValueError("not base64url JSON") from exc
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise ValueError("not a version 1 cursor")
    if body.keys() == {"v", "m"}:
        return Resume(_moment(body["m"]))
    if body.keys() == {"v", "a", "s"}:
        after = body["a"]
        if not isinstance(after, list) or len(after) != 2 or not isinstance(after[1], str):
            raise ValueError("bad position")
        message_id = parse_id(after[1]) if len(after[1]) <= 36 else None
        if message_id is None:
            raise ValueError("bad id")
        return Continue((_moment(after[0]), message_id), _moment(body["s"]))
    raise ValueError("unknown fields")


def event_cursor(updated_at: str) -> str:
    """The cursor of a message event, from the message JSON's `updatedAt`:
    resuming from it serves every change after that version (and the overlap
    before it)."""
    return encode(Resume(datetime.fromisoformat(updated_at)))
