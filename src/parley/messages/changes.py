"""The change feed's rules: where a read starts, and which cursor it answers
with, so that a client that follows cursors misses no change even though
`updatedAt` comes from each instance's clock and commits land out of order.

A *pass* is the reads from one Resume cursor until `more` is false; each read
serves the versions after the previous one's last, oldest first. `started` is
the server's clock at the pass's first read. The rule, with `overlap` a bound
on clock skew between instances plus the time from taking `updatedAt` to the
commit being readable:

- a version whose time is at most `started - overlap` was readable when the
  pass started, so the read whose range holds it served it;
- so at the end of a pass (last version served `end`), every version up to
  `min(end, started - overlap)` has been served, and the Resume cursor's mark
  is that plus `overlap` (the next pass re-serves from the mark minus overlap).

Paging therefore always moves forward (a busy room cannot keep a client on one
page), and only the last `overlap` of a pass is served twice; clients keep the
newest `updatedAt` per message id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parley.cursors import Continue, Resume, encode
from parley.storage.records import ChangeQuery, MessageRecord, feed_position

START = uuid.UUID(int=0)  # before every id of one millisecond


@dataclass(frozen=True)
class Pass:
    after: tuple[datetime, uuid.UUID] | None  # None: from the room's first change
    started: datetime


def start(cursor: Resume | Continue | None, overlap: timedelta, now: datetime) -> Pass:
    """Where this read starts: from the beginning without a cursor."""
    if cursor is None:
        return Pass(None, now)
    if isinstance(cursor, Continue):
        return Pass(cursor.after, cursor.started)
    return Pass((cursor.mark - overlap, START), now)


def from_now(now: datetime) -> dict[str, Any]:
    """`since=now`: no items; the cursor re-serves from `now - overlap`."""
    return {"items": [], "cursor": encode(Resume(now)), "more": False}


def feed_body(
    items: list[dict[str, Any]],
    records: list[MessageRecord],
    query: ChangeQuery,
    run: Pass,
    overlap: timedelta,
) -> dict[str, Any]:
    """`limit + 1` records were read: the extra one only says more exist."""
    more = len(records) > query.limit
    if more:
        cursor: Resume | Continue = Continue(feed_position(records[query.limit - 1]), run.started)
    else:
        end = records[-1].updated_at if records else run.after[0] if run.after else None
        mark = run.started if end is None else min(end + overlap, run.started)
        cursor = Resume(mark)
    return {"items": items[: query.limit], "cursor": encode(cursor), "more": more}
