"""Browser tests: Debian's Chromium (`/usr/bin/chromium`), driven by Playwright's
Python package (its wheel carries its own node driver; no browser is downloaded),
against real `parley serve` processes on the test databases.

Every page records requests to any other origin (there must be none) and uncaught
script errors (there must be none). When a test fails, each of its pages is
saved as a PNG under `tests/browser/artifacts/` (git-ignored).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from parley.devstack import DevStack
from parley.devstack.app_process import AppProcess
from parley.devstack.limits import SIGN_IN_LIMITS, TRAFFIC_LIMITS, raised
from parley.settings import Settings
from tests.support import ensure_running

CHROMIUM = os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS_SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 780}
DESKTOP = {"width": 1200, "height": 760}

# Conditions are awaited, never slept on; a slow 2-core machine gets generous limits.
expect.set_options(timeout=20_000)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        await chromium.close()


# Every browser and helper client here connects from 127.0.0.1, so per-address
# throttles would refuse the suite's own sign-ups and sends; they are tested on
# their own (tests/integration/test_login_throttle.py, test_rate_limits.py).
UNTHROTTLED = raised(SIGN_IN_LIMITS + TRAFFIC_LIMITS, 100_000)


@pytest.fixture(scope="module")
def web(migrated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """One `parley serve` for a test module (tests that restart it start their own)."""
    process = AppProcess(migrated, tmp_path_factory.mktemp("web"), UNTHROTTLED)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Account:
    name: str
    email: str
    password: str
    token: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(base: str, name: str) -> Account:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.post(
            "/api/auth/register", json={"email": email, "password": password, "name": name}
        )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(name, email, password, body["token"], body["profile"]["id"])


async def api(base: str, who: Account, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.request(method, f"/api{path}", json=body, headers=who.headers)
    assert response.is_success, response.text
    return response.json() if response.content else None


async def shared_dm(base: str, owner: Account, other: Account) -> str:
    """A server both are in, and their DM; returns the DM's room id."""
    server = await api(base, owner, "POST", "/servers", {"name": "Lab"})
    await api(base, other, "POST", f"/invites/{server['inviteCode']}")
    room = await api(base, owner, "POST", "/rooms", {"type": "dm", "profileId": other.id})
    return str(room["id"])


@dataclass
class Pages:
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    pages: dict[str, Page] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, name: str, base: str, *, viewport: dict[str, int] = DESKTOP) -> Page:
        """A page in a browser context of its own: a separate person."""
        context = await self.browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        self.contexts.append(context)
        origin = urlsplit(base).netloc

        def check(request: Any) -> None:
            url = urlsplit(request.url)
            if url.scheme not in ("data", "blob") and url.netloc != origin:
                self.foreign.append(request.url)

        context.on("request", check)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{name}: {error}"))
        page.on("dialog", lambda dialog: dialog.accept())
        self.pages[name] = page
        await page.goto(base + "/")
        return page

    async def close(self, failed_test: str | None) -> None:
        if failed_test:
            ARTIFACTS.mkdir(exist_ok=True)
            for name, page in self.pages.items():
                try:
                    await page.screenshot(path=ARTIFACTS / f"{failed_test}-{name}.png")
                except Exception as exc:  # a screenshot must not hide the failure
                    print(f"screenshot of {name} failed: {exc}")
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def pages(
    browser: Browser, stack: DevStack, request: pytest.FixtureRequest
) -> AsyncIterator[Pages]:
    ensure_running(stack)  # thaw or restart what an earlier fault test left behind
    opened = Pages(browser)
    yield opened
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    await opened.close(request.node.name if failed else None)
    assert not opened.foreign, f"requests left the app's origin: {opened.foreign}"
    assert not opened.errors, f"uncaught script errors: {opened.errors}"


async def log_in(page: Page, who: Account) -> None:
    await page.get_by_label("Email").fill(who.email)
    await page.get_by_label("Password").fill(who.password)
    await page.get_by_role("button", name="Log in", exact=True).click()
    await expect(page.locator("#me")).to_have_text(who.name)
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")


async def in_the_dm(
    pages: Pages, base: str, who: Account, dm: str, *, viewport: dict[str, int] = DESKTOP
) -> Page:
    """A page of `who`'s, logged in, with the DM open."""
    page = await pages.open(who.name.lower(), base, viewport=viewport)
    await log_in(page, who)
    await open_room(page, base, dm)
    return page


async def open_room(page: Page, base: str, room_id: str) -> None:
    await page.goto(f"{base}/#room={room_id}")
    await expect(page.locator("#composer")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")


async def send(page: Page, text: str) -> None:
    await expect(page.locator("dialog[open]")).to_have_count(0)  # a modal makes the rest inert
    box = page.locator("#composer-input")
    await box.fill(text)
    await box.press("Enter")


def texts(page: Page) -> Any:
    """The shown messages' texts, in order (what `to_have_text([...])` checks)."""
    return page.locator("#messages li[data-id] .text")


def save_docs_screenshot(name: str) -> Path | None:
    """Where to save a README screenshot: when missing, or when asked to refresh
    (`make screenshots`), so ordinary runs leave the committed images alone."""
    path = DOCS_SCREENSHOTS / f"{name}.png"
    if path.exists() and os.environ.get("PARLEY_UPDATE_SCREENSHOTS") != "1":
        return None
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return path
