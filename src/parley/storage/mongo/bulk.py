"""Unordered bulk writes, sent in chunks.

FerretDB v1 (the local MongoDB role) holds one backend connection per
statement while it executes a multi-statement update or delete command, and
deadlocks its own pool of 50 connections on a command with more statements
than that. Chunks of CHUNK statements are plain MongoDB semantics (a bulk write
is split into several commands anyway) and keep every store answering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

CHUNK = 25


async def bulk_write_chunked(collection: AsyncCollection[Any], requests: Sequence[Any]) -> None:
    """Like `bulk_write(requests, ordered=False)`: every request is attempted;
    write errors from all chunks are raised together, with indexes into
    `requests`, and so are write concern errors (a chunk MongoDB applied but
    could not acknowledge as asked is not a success)."""
    if not requests:
        return
    errors: list[dict[str, Any]] = []
    concern_errors: list[dict[str, Any]] = []
    for start in range(0, len(requests), CHUNK):
        try:
            await collection.bulk_write(list(requests[start : start + CHUNK]), ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                errors.append({**error, "index": error["index"] + start})
            concern_errors.extend(exc.details.get("writeConcernErrors", []))
    if errors or concern_errors:
        raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": concern_errors})
