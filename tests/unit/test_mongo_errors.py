"""How MongoDB's server errors reach the resilience layer."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from parley.storage.errors import StorageUnavailable
from parley.storage.mongo.errors import translate_errors


def test_an_internal_server_error_is_the_store_failing_not_a_bug() -> None:
    """Seen in a failover benchmark: FerretDB answered an update with
    InternalError (code 1) when its backend timed out. It was not translated,
    so the request answered 500 instead of falling back."""
    internal = OperationFailure("backend i/o timeout", code=1)
    with pytest.raises(StorageUnavailable), translate_errors("DM_UPDATE"):
        raise internal


def test_a_refused_command_is_still_a_bug() -> None:
    with pytest.raises(OperationFailure), translate_errors("DM_FIND"):
        raise OperationFailure("unknown field", code=9)
