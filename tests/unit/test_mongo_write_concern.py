"""A MongoDB write that carries a write concern error is a failure of MongoDB
(issue 12, hole 1): it was applied on one member but not acknowledged as asked,
and a failover may roll it back. The classification is pure logic over the
driver's error details, so these tests build the errors the driver raises."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import DeleteOne
from pymongo.errors import BulkWriteError, WriteConcernError

from parley.storage.errors import StorageUnavailable
from parley.storage.mongo.bulk import bulk_write_chunked
from parley.storage.mongo.direct_messages import DUPLICATE_KEY, _only_duplicate_keys
from parley.storage.mongo.errors import translate_errors

CONCERN_ERROR = {
    "code": 64,
    "codeName": "WriteConcernFailed",
    "errmsg": "waiting for replication timed out",
    "errInfo": {"wtimeout": True},
}
DUPLICATE = {"index": 0, "code": DUPLICATE_KEY, "errmsg": "E11000 duplicate key"}


def bulk_error(write_errors: list[dict[str, Any]], concern_errors: list[dict[str, Any]]) -> Any:
    return BulkWriteError(
        {
            "writeErrors": write_errors,
            "writeConcernErrors": concern_errors,
            "nInserted": 1,
            "nUpserted": 0,
            "nMatched": 0,
            "nModified": 0,
            "nRemoved": 0,
            "upserted": [],
        }
    )


def test_duplicate_keys_alone_are_the_rule_working() -> None:
    assert _only_duplicate_keys(bulk_error([DUPLICATE], [])) == [DUPLICATE]


@pytest.mark.parametrize("write_errors", [[], [DUPLICATE]])
def test_a_write_concern_error_is_never_success(write_errors: list[dict[str, Any]]) -> None:
    with pytest.raises(BulkWriteError):
        _only_duplicate_keys(bulk_error(write_errors, [CONCERN_ERROR]))


@pytest.mark.parametrize(
    "error",
    [
        bulk_error([], [CONCERN_ERROR]),
        bulk_error([DUPLICATE], [CONCERN_ERROR]),
        WriteConcernError(CONCERN_ERROR["errmsg"], 64, {"writeConcernError": CONCERN_ERROR}),
    ],
    ids=["bulk-concern-only", "bulk-duplicate-and-concern", "single-write"],
)
def test_write_concern_errors_mean_mongodb_failed(error: Exception) -> None:
    with pytest.raises(StorageUnavailable) as raised, translate_errors("DM_INSERT_BATCH"):
        raise error
    assert raised.value.store == "mongodb"
    assert raised.value.__cause__ is error


class ConcernFailingCollection:
    """Answers every bulk write as applied but not acknowledged as asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def bulk_write(self, requests: list[Any], ordered: bool) -> None:
        self.calls += 1
        raise bulk_error([], [CONCERN_ERROR])


async def test_chunked_bulk_write_keeps_write_concern_errors() -> None:
    collection = ConcernFailingCollection()
    requests = [DeleteOne({"_id": n}) for n in range(30)]
    with pytest.raises(BulkWriteError) as raised:
        await bulk_write_chunked(collection, requests)  # type: ignore[arg-type]
    assert collection.calls == 2
    assert raised.value.details["writeConcernErrors"] == [CONCERN_ERROR, CONCERN_ERROR]
    with pytest.raises(StorageUnavailable), translate_errors("DM_CONFIRM_MONGO_MARKERS"):
        raise raised.value
