"""The change feed's cursor format and its pass rules, without servers: every
cursor survives a round trip, anything else is refused, paging always moves
forward, and the resume mark never passes what the pass could have missed."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from parley.cursors import Continue, Now, Resume, decode, encode, event_cursor
from parley.messages import changes
from parley.storage.records import ChangeQuery, MessageRecord

ROOM = uuid.UUID("01a21632-6e8f-7352-afa2-39aa2c77a5a5")
T0 = datetime(2026, 11, 30, 14, 0, 0, 123000, tzinfo=UTC)
OVERLAP = timedelta(seconds=5)


def record(at: datetime) -> MessageRecord:
    message_id = uuid.uuid4()
    return MessageRecord(message_id, ROOM, uuid.uuid4(), "x", None, False, "n", at, at)


def b64(value: object) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor", [Resume(T0), Continue((T0, uuid.uuid4()), T0 + timedelta(seconds=1))]
)
def test_cursors_round_trip(cursor: Resume | Continue) -> None:
    text = encode(cursor)
    assert text.isascii() and "=" not in text and "/" not in text and "+" not in text
    assert decode(text) == cursor


def test_now_and_event_cursors() -> None:
    assert decode("now") == Now()
    assert decode(event_cursor("2026-11-30T14:00:00.123Z")) == Resume(T0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "NOW",
        "!!!!",
        "a" * 201,
        "é",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        b64([1, 2]),
        b64({"v": 2, "m": 0}),
        b64({"m": 0}),
        b64({"v": 1, "m": -1}),
        b64({"v": 1, "m": 1.5}),
        b64({"v": 1, "m": True}),
        b64({"v": 1, "m": 10**20}),
        b64({"v": 1, "m": "0"}),
        b64({"v": 1, "m": 0, "x": 1}),
        b64({"v": 1, "a": [0, "not-an-id"], "s": 0}),
        b64({"v": 1, "a": [0], "s": 0}),
        b64({"v": 1, "a": [0, str(uuid.uuid4())]}),
        b64({"v": 1, "a": "x", "s": 0}),
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode(text)


def test_a_pass_pages_forward_even_when_every_change_is_inside_the_overlap() -> None:
    records = sorted((record(T0 + timedelta(milliseconds=i % 3)) for i in range(7)),
                     key=lambda r: (r.updated_at, r.id))  # fmt: skip
    now = T0 + timedelta(milliseconds=10)
    cursor: Resume | Continue = Resume(T0)
    served: list[MessageRecord] = []
    for _ in range(10):
        run = changes.start(cursor, OVERLAP, now)
        after = run.after
        rest = [r for r in records if after is None or (r.updated_at, r.id) > after]
        query = ChangeQuery(ROOM, 3, after)
        body = changes.feed_body([{}] * min(3, len(rest)), rest[:4], query, run, OVERLAP)
        served += rest[:3]
        decoded = decode(body["cursor"])
        assert isinstance(decoded, Resume | Continue)
        cursor = decoded
        if not body["more"]:
            break
    assert served == records  # the pass ends, each version served once
    # The end of a pass re-serves at most the last overlap: here the whole
    # pass started less than the overlap ago, so nothing moves past it.
    assert cursor == Resume(now)


def test_the_mark_stays_an_overlap_behind_the_pass_start() -> None:
    started = T0 + timedelta(minutes=10)
    run = changes.Pass(None, started)
    old = [record(T0)]
    body = changes.feed_body([{}], old, ChangeQuery(ROOM, 5), run, OVERLAP)
    assert decode(body["cursor"]) == Resume(T0 + OVERLAP)  # an old last change
    recent = [record(started - timedelta(seconds=1))]
    body = changes.feed_body([{}], recent, ChangeQuery(ROOM, 5), run, OVERLAP)
    assert decode(body["cursor"]) == Resume(started)  # a change within the overlap
    assert changes.start(Resume(started), OVERLAP, started).after == (
        started - OVERLAP, changes.START,
    )  # fmt: skip
