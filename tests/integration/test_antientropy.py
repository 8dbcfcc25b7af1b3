"""Anti-entropy against real servers: tamper with one store behind the app's
back, and `verify` reports exactly those ids with the right kinds, `repair`
fixes them, and a second `verify` finds the stores agreeing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx

from parley.replication.antientropy import AntiEntropy
from parley.replication.divergence import (
    CONFLICTING_EQUAL_VERSIONS,
    DIFFERENT_VERSIONS,
    MIRROR_DIFFERENCE,
    MISSING_IN_MONGODB,
    MISSING_IN_POSTGRESQL,
)
from parley.replication.repair import Repairer
from parley.replication.walk import walk
from parley.settings import Settings
from parley.state import AppState
from parley.storage.mongo.schema import DIRECT_MESSAGES, PROFILES, key
from tests.antientropy_support import (
    ALL,
    parley,
    postgres_sql,
    repair,
    send,
    settled,
    verifier_of,
)
from tests.dm_support import mongo_messages, postgres_messages
from tests.factories import Person, make_dm, make_person


async def test_tampering_is_found_exactly_and_repaired(
    client: httpx.AsyncClient, state: AppState, migrated: Settings
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    ids = await send(client, ada, room, 8)
    await settled(state)
    db = state.mongo.db
    await db[DIRECT_MESSAGES].delete_one({"_id": ids[0]})
    await postgres_sql(state, "DELETE FROM direct_messages WHERE id = :id", id=uuid.UUID(ids[1]))
    await postgres_sql(
        state, "UPDATE direct_messages SET content = 'edited in pg' WHERE id = :id",
        id=uuid.UUID(ids[2]),
    )  # fmt: skip
    doc = await db[DIRECT_MESSAGES].find_one({"_id": ids[3]})
    assert doc is not None
    older = doc["updatedAt"] - timedelta(seconds=1)
    await db[DIRECT_MESSAGES].update_one(
        {"_id": ids[3]}, {"$set": {"content": "stale", "updatedAt": older}}
    )
    await db[DIRECT_MESSAGES].update_one({"_id": ids[4]}, {"$set": {"deleted": True}})
    await db[PROFILES].update_one({"_id": key(bob.id)}, {"$set": {"name": "Mallory"}})

    found = parley("verify", "--json")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    kinds = {item["id"]: item["kind"] for item in report["divergences"]}
    assert kinds == {
        ids[0]: MISSING_IN_MONGODB,
        ids[1]: MISSING_IN_POSTGRESQL,
        ids[2]: CONFLICTING_EQUAL_VERSIONS,
        ids[3]: DIFFERENT_VERSIONS,
        ids[4]: CONFLICTING_EQUAL_VERSIONS,
        str(bob.id): MIRROR_DIFFERENCE,
    }
    assert report["byKind"][CONFLICTING_EQUAL_VERSIONS] == 2

    await repair(state)

    again = parley("verify")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "the stores agree" in again.stdout
    mongo, postgres = await mongo_messages(state, room), await postgres_messages(state, room)
    assert mongo == postgres and len(mongo) == 8
    assert mongo[uuid.UUID(ids[3])].content == "m3"  # the newer version won
    assert mongo[uuid.UUID(ids[4])].deleted  # a delete is never undone
    mirrored = await db[PROFILES].find_one({"_id": key(bob.id)})
    assert mirrored is not None and mirrored["name"] == "Bob"


async def test_restore_from_an_older_dump_is_repaired(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    old = await send(client, ada, room, 10)
    await settled(state)
    collection = state.mongo.db[DIRECT_MESSAGES]
    dump = [doc async for doc in collection.find({})]

    new = await send(client, bob, room, 5)
    url = f"/api/rooms/{room}/messages"
    for message_id in old[:3]:
        edited = await client.patch(
            f"{url}/{message_id}", json={"content": "newest"}, headers=ada.headers
        )
        assert edited.status_code == 200
    for message_id in old[3:5]:
        assert (await client.delete(f"{url}/{message_id}", headers=ada.headers)).status_code == 200
    await settled(state)
    await collection.delete_many({})
    await collection.insert_many(dump)

    report = await walk(verifier_of(state), ALL)
    assert report.counts[MISSING_IN_MONGODB] == 5
    assert report.counts[DIFFERENT_VERSIONS] == 5
    await repair(state)

    mongo, postgres = await mongo_messages(state, room), await postgres_messages(state, room)
    assert mongo == postgres and len(mongo) == 15
    assert {str(i) for i in mongo} == set(old + new)
    assert all(mongo[uuid.UUID(i)].content == "newest" for i in old[:3])
    assert all(mongo[uuid.UUID(i)].deleted for i in old[3:5])
    assert (await walk(verifier_of(state), ALL)).divergent == 0


async def test_verify_during_live_traffic_reports_nothing(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """Sends, edits and deletes in several conversations while verify runs
    again and again with the default settle time: no false report."""
    people = [await make_person(state, f"P{i}") for i in range(4)]
    rooms = [(people[i], await make_dm(state, people[i], people[i + 1])) for i in range(3)]
    stop = asyncio.Event()

    async def traffic(person: Person, room: uuid.UUID) -> None:
        url = f"/api/rooms/{room}/messages"
        n = 0
        while not stop.is_set():
            sent = await client.post(url, json={"content": f"live {n}"}, headers=person.headers)
            n += 1
            if sent.status_code != 201:  # a 503 on a loaded machine: traffic all the same
                continue
            message_id = sent.json()["id"]
            if n % 3 == 1:
                await client.patch(
                    f"{url}/{message_id}", json={"content": "e"}, headers=person.headers
                )
            if n % 5 == 2:
                await client.delete(f"{url}/{message_id}", headers=person.headers)

    workers = [asyncio.create_task(traffic(p, r)) for p, r in rooms]
    try:
        verifier = verifier_of(state, settle=state.settings.antientropy_settle)
        reports = []
        for _ in range(6):
            reports.append(await walk(verifier, ALL))
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert [r.divergent for r in reports] == [0] * 6
    assert all(r.finished for r in reports)


async def test_background_verifier_is_leased_repairs_and_reports(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    room = await make_dm(state, ada, bob)
    ids = await send(client, ada, room, 3)
    await settled(state)
    await state.mongo.db[DIRECT_MESSAGES].delete_one({"_id": ids[1]})
    replication = state.replication

    def verifier_as(holder: str) -> AntiEntropy:
        return AntiEntropy(
            verifier_of(state),
            Repairer(replication.mongo.for_background(), replication.postgres.for_background()),
            replication.postgres.for_background(),
            replication.metrics,
            holder=holder,
            rate=1000.0,
            duty=1.0,  # no wait for the time a step took
            pause=0.0,
            lease=30.0,
            after_repair=replication.replay.kick,
        )

    first, second = verifier_as("first"), verifier_as("second")
    assert await first.step() < 1.0  # one batch checked (and repaired)
    assert await second.step() == 15.0  # the lease is taken: it only waits
    assert second.status()["leader"] is False
    await first.step()  # the walk is at its end: the pass finishes
    status = first.status()
    assert status["lastPass"]["byKind"][MISSING_IN_MONGODB] == 1
    assert status["divergentTotal"] == 1
    assert status["mode"] == "repair"
    await settled(state)
    assert len(await mongo_messages(state, room)) == 3

    metrics = (await client.get("/api/metrics")).text
    assert "parley_antientropy_divergent_total 1" in metrics
    assert "parley_antientropy_last_full_pass_seconds" in metrics
    assert "parley_antientropy_progress_ratio 1.0" in metrics
    health = (await client.get("/api/health")).json()
    assert health["details"]["antientropy"]["mode"] == "repair"
    await first.stop()


async def test_background_verifier_waits_in_proportion_to_the_work_of_its_step(
    client: httpx.AsyncClient, state: AppState
) -> None:
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    await send(client, ada, await make_dm(state, ada, bob), 3)
    await settled(state)
    replication = state.replication
    paced = AntiEntropy(
        verifier_of(state),
        None,
        replication.postgres.for_background(),
        replication.metrics,
        holder="paced",
        rate=1000.0,  # alone: a thousandth of a second per conversation
        duty=0.01,  # working 1 % of the time: 99 s of rest per second of work
        pause=0.0,
        lease=30.0,
    )
    started = asyncio.get_running_loop().time()
    wait = await paced.step()
    took = asyncio.get_running_loop().time() - started
    assert paced.status()["leader"] is True
    # The step's own round trips (lease, cursor, counts, both stores) take
    # well over half a millisecond, so the wait is the duty's, not the rate's.
    assert 0.05 < wait <= 99 * took
