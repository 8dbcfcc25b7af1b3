from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from parley.resilience import with_mongo_fallback, with_postgres_fallback
from parley.storage.errors import StorageConflict, StorageUnavailable
from tests.unit.resilience_fakes import guard, raises, returns

DOWN = StorageUnavailable("connection refused", store="mongodb")


async def test_mongo_answers() -> None:
    mongo, _ = guard("mongodb")
    postgres, postgres_runner = guard("postgresql")
    result = await with_mongo_fallback(
        returns("m"), returns("p"), "OP", mongo=mongo, postgres=postgres
    )
    assert (result.value, result.source) == ("m", "mongodb")
    assert postgres_runner.calls == []


async def test_unavailable_mongo_falls_back_with_the_original_log_lines() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    with capture_logs() as logs:
        result = await with_mongo_fallback(
            raises(DOWN), returns("p"), "ROOM_MESSAGES_GET_DM", mongo=mongo, postgres=postgres
        )
    assert (result.value, result.source) == ("p", "postgresql")
    assert [entry["event"] for entry in logs] == [
        "[ROOM_MESSAGES_GET_DM] MongoDB failed, falling back to PostgreSQL: connection refused",
        "[ROOM_MESSAGES_GET_DM] Successfully used PostgreSQL fallback",
    ]


@pytest.mark.parametrize(
    "error", [ValueError("a bug"), StorageConflict("duplicate", store="mongodb")]
)
async def test_bugs_and_conflicts_surface_without_fallback(error: Exception) -> None:
    mongo, _ = guard("mongodb")
    postgres, postgres_runner = guard("postgresql")
    with pytest.raises(type(error)):
        await with_mongo_fallback(raises(error), returns("p"), "OP", mongo=mongo, postgres=postgres)
    assert postgres_runner.calls == []


async def test_open_breaker_skips_mongo_entirely() -> None:
    mongo, mongo_runner = guard("mongodb", threshold=1)
    postgres, _ = guard("postgresql")
    mongo.breaker.trip("down")
    result = await with_mongo_fallback(
        returns("m"), returns("p"), "OP", mongo=mongo, postgres=postgres
    )
    assert result.source == "postgresql"
    assert mongo_runner.calls == []


async def test_both_unavailable_raises() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    with pytest.raises(StorageUnavailable):
        await with_mongo_fallback(
            raises(DOWN),
            raises(StorageUnavailable("down", store="postgresql")),
            "OP",
            mongo=mongo,
            postgres=postgres,
        )


async def test_slow_mongo_is_hedged_and_the_first_answer_wins() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    result = await with_mongo_fallback(
        returns("m", delay=0.5),
        returns("p"),
        "OP",
        mongo=mongo,
        postgres=postgres,
        hedge_after=0.01,
    )
    assert (result.value, result.source) == ("p", "postgresql")


async def test_hedge_that_fails_still_waits_for_the_slow_primary() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    result = await with_mongo_fallback(
        returns("m", delay=0.05),
        raises(StorageUnavailable("down", store="postgresql")),
        "OP",
        mongo=mongo,
        postgres=postgres,
        hedge_after=0.01,
    )
    assert (result.value, result.source) == ("m", "mongodb")


async def test_an_incomplete_hedge_answer_waits_for_the_slow_primary() -> None:
    """A mirror that has not caught up answers fast and wrongly: the owner's
    answer, slower, is the one used."""
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    result = await with_postgres_fallback(
        returns({"ada": "Ada"}, delay=0.05),
        returns({}),  # the mirror lacks the new profile
        "DM_AUTHORS",
        mongo=mongo,
        postgres=postgres,
        hedge_after=0.01,
        complete=lambda found: len(found) == 1,
    )
    assert (result.value, result.source) == ({"ada": "Ada"}, "postgresql")


async def test_a_complete_hedge_answer_still_wins() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    result = await with_postgres_fallback(
        returns({"ada": "Ada"}, delay=0.5),
        returns({"ada": "Ada (mirror)"}),
        "DM_AUTHORS",
        mongo=mongo,
        postgres=postgres,
        hedge_after=0.01,
        complete=lambda found: len(found) == 1,
    )
    assert result.source == "mongodb"


async def test_an_incomplete_hedge_answer_is_used_when_the_primary_fails() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    result = await with_postgres_fallback(
        raises(StorageUnavailable("down", store="postgresql"), delay=0.05),
        returns({}),
        "DM_AUTHORS",
        mongo=mongo,
        postgres=postgres,
        hedge_after=0.01,
        complete=lambda found: len(found) == 1,
    )
    assert (result.value, result.source) == ({}, "mongodb")
