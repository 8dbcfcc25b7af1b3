"""Rate limits on sends, edits and WebSocket sign-ins (issue 15), counted in
PostgreSQL and so shared by every instance: concurrent hits never overshoot, a
limit spent through one `parley serve` is enforced by another (sends and the
account lock), and the default send limit holds as configured."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from parley.app import create_app
from parley.realtime.schemas import CloseCode
from parley.security.ratelimit import Limit, Rule
from parley.settings import Settings
from parley.state import AppState
from parley.storage.postgres.rate_limits import PostgresRateWindows
from tests.factories import Person, make_dm, make_person
from tests.integration.test_realtime_support import client, parley_process, serving

PASSWORD = "correct horse battery"


@asynccontextmanager
async def limited_app(settings: Settings, **limits: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update=limits))
    async with application.router.lifespan_context(application):
        yield application


def http_from(app: FastAPI, ip: str = "10.1.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://parley.test")


async def send(
    http: httpx.AsyncClient, person: Person, room: uuid.UUID, text: str
) -> httpx.Response:
    return await http.post(
        f"/api/rooms/{room}/messages", json={"content": text}, headers=person.headers
    )


def assert_too_many(response: httpx.Response, longest: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "TooManyRequests"
    assert 1 <= int(response.headers["Retry-After"]) <= longest


@pytest.fixture
async def small(migrated: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """An app with small send and edit limits, on the database `app` cleaned."""
    del app
    async with limited_app(
        migrated,
        send_limit_account="3/minute",
        send_limit_ip="5/minute",
        edit_limit_account="2/minute",
        ws_connect_limit_account="2/minute",
    ) as application:
        yield application


async def test_concurrent_hits_never_overshoot(migrated: Settings, state: AppState) -> None:
    windows = PostgresRateWindows.from_settings(
        migrated.model_copy(update={"rate_limit_deadline": 5.0})
    )
    # Now, not a fixed instant: rows that expired long ago are the app's pruner's
    # to delete, and it did so mid-test (an overshoot that was not one).
    check = Limit(Rule("race", 10, 60), uuid.uuid4().hex).check(time.time())
    try:
        results = await asyncio.gather(*(windows.hit_many([([check], 1)]) for _ in range(40)))
        assert sum(counts.counted for [[counts]] in results) == 10
        [stored] = await windows.peek([check])
        assert stored.total == 10
    finally:
        await windows.dispose()


@pytest.fixture
async def windows(migrated: Settings, state: AppState) -> AsyncIterator[PostgresRateWindows]:
    """The shared counts, with a deadline no test run can miss."""
    del state  # the app's pruner runs meanwhile, as in production
    store = PostgresRateWindows.from_settings(
        migrated.model_copy(update={"rate_limit_deadline": 5.0})
    )
    yield store
    await store.dispose()


def fresh(amount: int) -> Limit:
    return Limit(Rule("batch", amount, 60), uuid.uuid4().hex)


async def test_a_batch_counts_its_hits_one_after_another(windows: PostgresRateWindows) -> None:
    check = fresh(10).check(time.time())

    results = await windows.hit_many([([check], 1)] * 15)

    assert [counts.counted for [counts] in results] == [True] * 10 + [False] * 5
    assert [counts.total for [counts] in results] == list(range(10)) + [10] * 5
    [stored] = await windows.peek([check])
    assert stored.total == 10


async def test_a_hit_in_a_batch_counts_against_all_its_keys_or_none(
    windows: PostgresRateWindows,
) -> None:
    now = time.time()
    roomy, tight = fresh(10).check(now), fresh(1).check(now)

    first, second, alone = await windows.hit_many(
        [([roomy, tight], 1), ([tight, roomy], 1), ([roomy], 2)]
    )

    assert [c.counted for c in first] == [True, True]
    assert [c.counted for c in second] == [False, False]  # `tight` is spent
    assert alone[0].counted and alone[0].total == 1  # the refused hit charged nothing
    assert [c.total for c in await windows.peek([roomy, tight])] == [3, 1]


async def test_concurrent_batches_sharing_keys_neither_overshoot_nor_deadlock(
    windows: PostgresRateWindows,
) -> None:
    """Batches whose hits name the same keys in opposite orders: row locks
    taken in those orders would deadlock; the batch's advisory locks, taken
    in one order, make them wait for each other instead."""
    now = time.time()
    a, b = fresh(30).check(now), fresh(1000).check(now)
    batches = [[([a, b] if (n + i) % 2 else [b, a], 1) for i in range(5)] for n in range(20)]

    results = await asyncio.gather(*(windows.hit_many(batch) for batch in batches))

    counted = [hit[0].counted for batch in results for hit in batch]
    assert sum(counted) == 30
    assert [c.total for c in await windows.peek([a, b])] == [30, 30]


async def test_clear_forgets_the_keys(windows: PostgresRateWindows) -> None:
    now = time.time()
    gone, kept = fresh(10).check(now), fresh(10).check(now)
    await windows.hit_many([([gone, kept], 1)])

    await windows.clear([gone.key])

    assert [c.total for c in await windows.peek([gone, kept])] == [0, 1]


async def test_counts_commit_without_waiting_for_the_disk(migrated: Settings) -> None:
    """One account's hits update the same rows: a synchronous commit would make
    each wait for the one before it to reach the disk (the module docstring)."""
    windows = PostgresRateWindows.from_settings(migrated)
    try:
        async with windows.engine.connect() as conn:
            setting = (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
        assert setting == "off"
    finally:
        await windows.dispose()


async def test_sends_over_the_account_limit_get_429(small: FastAPI) -> None:
    state: AppState = small.state.parley
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    async with http_from(small) as http:
        for i in range(3):
            assert (await send(http, ada, dm, f"hello {i}")).status_code == 201
        assert_too_many(await send(http, ada, dm, "one too many"))
        page = await http.get(f"/api/rooms/{dm}/messages", headers=ada.headers)
        assert len(page.json()["items"]) == 3  # the refused send was not stored
        assert (await send(http, bob, dm, "bob has his own")).status_code == 201


async def test_sends_per_address_across_accounts(small: FastAPI) -> None:
    state: AppState = small.state.parley
    people = [await make_person(state, name) for name in ("Ada", "Bob", "Cy")]
    dm = await make_dm(state, people[0], people[1])
    dm2 = await make_dm(state, people[2], people[1])
    async with http_from(small, "10.1.0.2") as http:
        for person, room in [(people[0], dm)] * 3 + [(people[1], dm)] * 2:
            assert (await send(http, person, room, "hi")).status_code == 201
        assert_too_many(await send(http, people[2], dm2, "from the same address"))
    async with http_from(small, "10.1.0.3") as elsewhere:
        assert (await send(elsewhere, people[2], dm2, "from another")).status_code == 201


async def test_edits_and_deletes_share_a_limit(small: FastAPI) -> None:
    state: AppState = small.state.parley
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    async with http_from(small) as http:
        mid = (await send(http, ada, dm, "draft")).json()["id"]
        url = f"/api/rooms/{dm}/messages/{mid}"
        edited = await http.patch(url, json={"content": "better"}, headers=ada.headers)
        assert edited.status_code == 200
        assert (await http.delete(url, headers=ada.headers)).status_code == 200
        assert_too_many(await http.patch(url, json={"content": "again"}, headers=ada.headers))


async def test_websocket_sign_ins_per_account(small: FastAPI) -> None:
    state: AppState = small.state.parley
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    async with serving(small) as base:
        for _ in range(2):
            async with client(base, ada.token):
                pass
        async with client(base) as c:
            await c.send({"op": "auth", "token": ada.token})
            assert await c.closed_with() == CloseCode.TOO_MANY_REQUESTS
        async with client(base, bob.token):  # another account is not limited
            pass


async def test_the_default_send_limit(migrated: Settings, app: FastAPI) -> None:
    """120 sends a minute per account, as shipped (the suite raises it)."""
    del app
    default = str(Settings.model_fields["send_limit_account"].default)
    assert default == "120/minute"
    async with limited_app(migrated, send_limit_account=default) as application:
        state: AppState = application.state.parley
        ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
        dm = await make_dm(state, ada, bob)
        async with http_from(application, "10.1.0.9") as http:
            for i in range(120):
                assert (await send(http, ada, dm, f"{i}")).status_code == 201
            assert_too_many(await send(http, ada, dm, "121"))


# -- two instances ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(migrated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two `parley serve` processes with small limits. A generous deadline for
    the shared store: on a busy machine a slow answer would make an instance
    decide alone, which is what the fault tests check, not this."""
    logs = Path(tmp_path_factory.mktemp("rate-limits"))
    env = {
        "PARLEY_SEND_LIMIT_ACCOUNT": "3/minute",
        "PARLEY_LOGIN_LIMIT_ACCOUNT": "3/hour",
        "PARLEY_RATE_LIMIT_DEADLINE": "2",
    }
    with (
        parley_process(migrated, str(logs / "a.log"), **env) as a,
        parley_process(migrated, str(logs / "b.log"), **env) as b,
    ):
        yield [a, b]


async def test_a_send_limit_spent_on_one_instance_holds_on_the_other(
    pair: list[str], state: AppState
) -> None:
    a, b = pair
    ada, bob = await make_person(state, "Ada"), await make_person(state, "Bob")
    dm = await make_dm(state, ada, bob)
    async with httpx.AsyncClient(base_url=a) as on_a, httpx.AsyncClient(base_url=b) as on_b:
        for i in range(3):
            assert (await send(on_a, ada, dm, f"via a {i}")).status_code == 201
        assert_too_many(await send(on_b, ada, dm, "via b"))
        assert (await send(on_b, bob, dm, "bob via b")).status_code == 201


async def test_an_account_locked_on_one_instance_is_locked_on_the_other(
    pair: list[str], state: AppState
) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a) as on_a, httpx.AsyncClient(base_url=b) as on_b:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": email, "password": PASSWORD, "name": "Ada"}
        assert (await on_a.post("/api/auth/register", json=body)).status_code == 201
        for _ in range(3):
            wrong = {"email": email, "password": "wrong password"}
            assert (await on_a.post("/api/auth/login", json=wrong)).status_code == 401
        locked = await on_b.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert_too_many(locked, longest=3600)
        assert int(locked.headers["Retry-After"]) > 60
