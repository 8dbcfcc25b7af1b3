from __future__ import annotations

import asyncio
from typing import Any

import pytest

from parley.resilience import DualWrite, StillWriting, sync_to_both_databases
from parley.storage.errors import StorageConflict, StorageUnavailable
from tests.unit.resilience_fakes import guard, raises, returns

MONGO_DOWN = StorageUnavailable("down", store="mongodb")
PG_DOWN = StorageUnavailable("down", store="postgresql")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, DualWrite[Any, Any]]] = []

    def hook(self, name: str) -> Any:
        async def record(result: DualWrite[Any, Any]) -> None:
            self.events.append((name, result))

        return record

    def kwargs(self) -> dict[str, Any]:
        return {
            "queue_for_mongo": self.hook("queue_for_mongo"),
            "queue_for_postgres": self.hook("queue_for_postgres"),
            "on_settled": self.hook("settled"),
        }


async def test_both_accept_and_writes_run_concurrently() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    recorder = Recorder()
    started = asyncio.get_running_loop().time()
    result = await sync_to_both_databases(
        returns("m", delay=0.05), returns("p", delay=0.05), "OP",
        mongo=mongo, postgres=postgres, **recorder.kwargs(),
    )  # fmt: skip
    assert asyncio.get_running_loop().time() - started < 0.09  # not the sum of both
    assert result.stores == ["mongodb", "postgresql"]
    assert (result.mongo, result.postgres) == ("m", "p")
    assert [name for name, _ in recorder.events] == ["settled"]


@pytest.mark.parametrize(
    ("mongo_op", "postgres_op", "queued", "stores"),
    [
        (raises(MONGO_DOWN), returns("p"), "queue_for_mongo", ["postgresql"]),
        (returns("m"), raises(PG_DOWN), "queue_for_postgres", ["mongodb"]),
    ],
)
async def test_one_store_down_queues_for_it(
    mongo_op: Any, postgres_op: Any, queued: str, stores: list[str]
) -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    recorder = Recorder()
    result = await sync_to_both_databases(
        mongo_op, postgres_op, "OP", mongo=mongo, postgres=postgres, **recorder.kwargs()
    )
    assert result.stores == stores
    assert [name for name, _ in recorder.events] == [queued, "settled"]


async def test_both_down_raises_and_queues_nothing() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    recorder = Recorder()
    with pytest.raises(StorageUnavailable):
        await sync_to_both_databases(
            raises(MONGO_DOWN), raises(PG_DOWN), "OP",
            mongo=mongo, postgres=postgres, **recorder.kwargs(),
        )  # fmt: skip
    assert recorder.events == []


async def test_conflict_is_reported_not_queued_and_bugs_raise() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    recorder = Recorder()
    conflict = StorageConflict("nonce", store="mongodb")
    result = await sync_to_both_databases(
        raises(conflict), returns("p"), "OP", mongo=mongo, postgres=postgres, **recorder.kwargs()
    )
    assert result.mongo_error is conflict and result.stores == ["postgresql"]
    assert [name for name, _ in recorder.events] == ["settled"]
    with pytest.raises(ZeroDivisionError):
        await sync_to_both_databases(
            raises(ZeroDivisionError()), returns("p"), "OP", mongo=mongo, postgres=postgres
        )


async def test_straggler_is_settled_after_the_answer() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    recorder = Recorder()
    result = await sync_to_both_databases(
        raises(MONGO_DOWN, delay=0.1), returns("p"), "OP",
        mongo=mongo, postgres=postgres, straggler_grace=0.01, **recorder.kwargs(),
    )  # fmt: skip
    assert result.stores == ["postgresql"]
    assert isinstance(result.mongo_error, StillWriting)
    assert recorder.events == []  # not settled yet
    await asyncio.sleep(0.2)
    assert [name for name, _ in recorder.events] == ["queue_for_mongo", "settled"]
    final = recorder.events[-1][1]
    assert final.mongo_error is MONGO_DOWN and final.postgres == "p"


async def test_first_failure_waits_for_the_other_store_despite_grace() -> None:
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    result = await sync_to_both_databases(
        raises(MONGO_DOWN), returns("p", delay=0.05), "OP",
        mongo=mongo, postgres=postgres, straggler_grace=0.001,
    )  # fmt: skip
    assert result.stores == ["postgresql"]


@pytest.mark.parametrize("stalled", [False, True])
async def test_a_stalled_straggler_gets_no_grace(stalled: bool) -> None:
    """With PostgreSQL frozen, a send first waited out the rate limiter's
    deadline, then the whole write grace for the same server: p99 over 250 ms."""
    mongo, _ = guard("mongodb")
    postgres, _ = guard("postgresql")
    if stalled:
        postgres.breaker.stall.missed_deadline(postgres.breaker.stall.now())
    result = await sync_to_both_databases(
        returns("m"), returns("p", delay=0.05), "OP",
        mongo=mongo, postgres=postgres, straggler_grace=5.0,
    )  # fmt: skip
    if stalled:
        assert isinstance(result.postgres_error, StillWriting)
    else:
        assert result.postgres == "p"
