"""The status page in Chromium: both stores with latency, breakers, the replay
backlog and the live charts, drawn from /api/health and /api/metrics."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess
from tests.browser.conftest import Pages, api, register, save_docs_screenshot, shared_dm


async def test_status_page_shows_stores_breakers_backlog_and_charts(
    web: AppProcess, pages: Pages
) -> None:
    page = await pages.open("operator", web.url)
    await page.goto(f"{web.url}/status")
    await expect(page.locator("#overall")).to_have_text("healthy")
    cards = page.locator("#stores .card")
    await expect(cards).to_have_count(2)
    for index, store in enumerate(("MongoDB", "PostgreSQL")):
        card = cards.nth(index)
        await expect(card.locator("h3")).to_contain_text(store)
        await expect(card.locator("h3")).to_contain_text("up")
        await expect(card.locator(".value")).to_have_text(re.compile(r"^\d+\.\d ms$"))
        await expect(card).to_contain_text("Circuit breakerclosed")
    await expect(page.locator("#replay .card")).to_have_count(2)
    charts = page.locator("#charts figure")
    await expect(charts).to_have_count(3)
    # Two metrics readings make the first line segment of every chart.
    await expect(page.locator("#charts polyline")).to_have_count(6, timeout=30_000)


@pytest.mark.fault
async def test_status_page_shows_a_frozen_mongodb(
    web: AppProcess, pages: Pages, stack: DevStack
) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    dm = await shared_dm(web.url, ada, bob)
    page = await pages.open("operator", web.url)
    await page.goto(f"{web.url}/status")
    await expect(page.locator("#overall")).to_have_text("healthy")
    mongo = page.locator("#stores .card").first
    stack.mongo.process.freeze()
    try:
        await expect(page.locator("#overall")).to_have_text("degraded")
        await expect(mongo).to_have_attribute("data-state", "down")
        for n in range(3):  # DM traffic served by PostgreSQL alone
            await api(web.url, ada, "POST", f"/rooms/{dm}/messages", {"content": f"m{n}"})
            await api(web.url, bob, "GET", f"/rooms/{dm}/messages")
        await expect(mongo).to_contain_text("Circuit breakeropen")
        await expect(page.locator("#charts [data-chart='error'] li").first).not_to_have_text(
            "MongoDB: 0/min"
        )
        # Three metrics readings: a line, not just a dot, for the README's picture.
        await expect(page.locator("[data-chart='error'] polyline").first).to_have_attribute(
            "points", re.compile(r"\S+ \S+"), timeout=30_000
        )
        if path := save_docs_screenshot("status"):
            await page.screenshot(path=path, full_page=True)
    finally:
        stack.mongo.process.thaw()
    await expect(page.locator("#overall")).to_have_text("healthy")
