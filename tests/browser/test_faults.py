"""The web client through faults: MongoDB frozen (SIGSTOP through the dev stack)
while two people chat in a DM, and the app process restarted while messages are
sent without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess
from parley.settings import Settings
from tests.browser.conftest import (
    UNTHROTTLED,
    Pages,
    in_the_dm,
    log_in,
    open_room,
    register,
    send,
    shared_dm,
    texts,
)

pytestmark = pytest.mark.fault


async def test_mongodb_frozen_the_dm_keeps_working_and_says_postgresql(
    web: AppProcess, pages: Pages, stack: DevStack
) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    dm = await shared_dm(web.url, ada, bob)
    ada_page = await in_the_dm(pages, web.url, ada, dm)
    bob_page = await in_the_dm(pages, web.url, bob, dm)
    await send(bob_page, "Before the freeze")
    await expect(texts(ada_page)).to_have_text(["Before the freeze"])
    await expect(ada_page.locator("#source-badge")).to_have_text("Read from MongoDB")

    stack.mongo.process.freeze()
    try:
        await expect(ada_page.locator("#health")).to_have_attribute("data-status", "degraded")
        await send(bob_page, "MongoDB is asleep")
        await expect(texts(ada_page)).to_have_text(["Before the freeze", "MongoDB is asleep"])
        await send(ada_page, "And we still talk")
        expected = ["Before the freeze", "MongoDB is asleep", "And we still talk"]
        await expect(texts(bob_page)).to_have_text(expected)
        for page in (ada_page, bob_page):
            await expect(page.locator("#source-badge")).to_have_attribute(
                "data-source", "postgresql"
            )
            await expect(page.locator("#source-badge")).to_have_text("Read from PostgreSQL")
            await expect(page.locator("#outbox li")).to_have_count(0)
    finally:
        stack.mongo.process.thaw()
    await expect(ada_page.locator("#health")).to_have_attribute("data-status", "healthy")
    await expect(texts(ada_page)).to_have_text(expected)


@pytest.fixture
def restartable(migrated: Settings, tmp_path: Path) -> Iterator[AppProcess]:
    process = AppProcess(migrated, tmp_path, UNTHROTTLED)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_reconnect_after_app_restart_misses_and_doubles_nothing(
    restartable: AppProcess, pages: Pages, client: httpx.AsyncClient
) -> None:
    base = restartable.url
    ada, bob = await register(base, "Ada"), await register(base, "Bob")
    dm = await shared_dm(base, ada, bob)
    ada_page = await pages.open("ada", base)
    bob_page = await pages.open("bob", base)
    await log_in(ada_page, ada)
    await log_in(bob_page, bob)
    await open_room(ada_page, base, dm)
    await open_room(bob_page, base, dm)
    await send(ada_page, "one")
    await expect(texts(bob_page)).to_have_text(["one"])

    restartable.stop()
    for page in (ada_page, bob_page):
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "reconnecting")
    # Written through another app (the in-process one) while the pages' app is
    # down: no page can get these live; only catching up after reconnecting shows them.
    missed = ["two", "three", "four"]
    for content in missed:
        answer = await client.post(
            f"/api/rooms/{dm}/messages", json={"content": content}, headers=bob.headers
        )
        assert answer.status_code == 201, answer.text
    restartable.start()

    for page in (ada_page, bob_page):
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
        await expect(texts(page)).to_have_text(["one", *missed])
    await send(bob_page, "five, live again")
    expected = ["one", *missed, "five, live again"]
    for page in (ada_page, bob_page):
        await expect(texts(page)).to_have_text(expected)
        await expect(page.locator("#outbox li")).to_have_count(0)
    # Nothing doubled by the catch-up reads that follow the health changing back.
    await expect(ada_page.locator("#health")).to_have_attribute("data-status", "healthy")
    await ada_page.reload()
    await expect(texts(ada_page)).to_have_text(expected)
