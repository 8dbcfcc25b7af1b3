from __future__ import annotations

import pytest

from parley.storage.errors import StorageTimeout, StorageUnavailable
from tests.unit.resilience_fakes import guard, raises


async def test_user_traffic_timeouts_open_the_breaker() -> None:
    store, _ = guard("mongodb", threshold=2)
    for _ in range(2):
        with pytest.raises(StorageTimeout):
            await store.run("OP", raises(StorageTimeout("slow", store="mongodb")))
    assert store.breaker.is_open


async def test_background_timeouts_do_not_but_background_outages_do() -> None:
    store, _ = guard("mongodb", threshold=2)
    background = store.for_background()
    for _ in range(3):
        with pytest.raises(StorageTimeout):
            await background.run("REPLAY", raises(StorageTimeout("slow", store="mongodb")))
    assert not store.breaker.is_open
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            await background.run("REPLAY", raises(StorageUnavailable("refused", store="mongodb")))
    assert store.breaker.is_open
