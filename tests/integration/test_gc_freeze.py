"""What exists once the app has started lives as long as the process; it is
kept out of full garbage collections, whose pause held the event loop for
0.21 s in a failover run (and sends missed their deadlines). At shutdown it
is handed back, so an app that is done with can be freed."""

from __future__ import annotations

import gc
import time

from parley.state import AppState


def _full_collection_ms() -> float:
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


async def test_a_running_app_keeps_its_startup_objects_out_of_full_collections(
    state: AppState,
) -> None:
    assert state.settings  # the app has started
    frozen = gc.get_freeze_count()
    assert frozen > 100_000  # modules, routes, models, clients
    gc.unfreeze()
    try:
        thawed = min(_full_collection_ms() for _ in range(3))
    finally:
        gc.freeze()
    assert min(_full_collection_ms() for _ in range(3)) < thawed / 5
