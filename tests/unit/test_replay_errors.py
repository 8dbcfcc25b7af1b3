"""Which error a replay pass run in both directions at once raises: a bug in
one direction must reach the supervisor even when the other direction met a
storage error, whichever of the two it was."""

from __future__ import annotations

import pytest

from parley.replication.replay import _error_to_raise
from parley.storage.errors import StorageTimeout, StorageUnavailable


@pytest.mark.parametrize("bug_first", [True, False])
def test_a_bug_is_raised_over_a_storage_error(bug_first: bool) -> None:
    bug, storage = (
        RuntimeError("a bug"),
        StorageTimeout("REPLAY_WRITE_MONGO ran long", store="mongodb"),
    )
    outcomes: list[int | BaseException] = [bug, storage] if bug_first else [storage, bug]

    assert _error_to_raise(outcomes) is bug


def test_the_one_error_is_raised_beside_a_finished_pass() -> None:
    storage = StorageUnavailable("PostgreSQL refused", store="postgresql")

    assert _error_to_raise([3, storage]) is storage
