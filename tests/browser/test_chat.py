"""The web client in Chromium: two people chat live in a DM, edits and deletes
arrive live, a server's channel works end to end, message text is never HTML, a
failed send can be retried without doubling, an expired token returns to login."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from parley.devstack.app_process import AppProcess
from tests.browser.conftest import (
    PHONE,
    Pages,
    api,
    in_the_dm,
    log_in,
    open_room,
    register,
    save_docs_screenshot,
    send,
    shared_dm,
    texts,
)


async def test_two_people_chat_live_in_a_dm(web: AppProcess, pages: Pages) -> None:
    bob = await register(web.url, "Bob")
    server = await api(web.url, bob, "POST", "/servers", {"name": "Analytical Engines"})

    # Ada signs up in the browser and follows Bob's invite link.
    ada_page = await pages.open("ada", web.url)
    await ada_page.get_by_role("button", name="New here? Create an account").click()
    await ada_page.get_by_label("Display name").fill("Ada")
    await ada_page.get_by_label("Email").fill("ada-dm@example.com")
    await ada_page.get_by_label("Password").fill("correct horse battery")
    await ada_page.get_by_role("button", name="Create account").click()
    await expect(ada_page.locator("#me")).to_have_text("Ada")
    await ada_page.goto(f"{web.url}/?invite={server['inviteCode']}")
    await expect(ada_page.locator("#server-name")).to_have_text("Analytical Engines")

    bob_page = await pages.open("bob", web.url)
    await log_in(bob_page, bob)

    for page, other in ((ada_page, "Bob"), (bob_page, "Ada")):
        await page.get_by_role("button", name="New message").click()
        await page.get_by_label(other, exact=True).check()
        await page.get_by_role("button", name="Open", exact=True).click()
        await expect(page.locator("#room-title")).to_have_text(other)
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    await send(ada_page, "Hello Bob, are you there?")
    await expect(texts(bob_page)).to_have_text(["Hello Bob, are you there?"])
    await send(bob_page, "Right here. This arrived live.")
    await bob_page.get_by_label("Link (optional)").fill("https://example.org/engine.pdf")
    await send(bob_page, "Links work too: see the plans")
    expected = [
        "Hello Bob, are you there?",
        "Right here. This arrived live.",
        "Links work too: see the plans",
    ]
    await expect(texts(ada_page)).to_have_text(expected)
    await expect(texts(bob_page)).to_have_text(expected)
    # Each once on the sender's side too: the live event and the HTTP answer meet.
    await expect(ada_page.locator("#outbox li")).to_have_count(0)
    await expect(ada_page.locator("#messages a.file")).to_have_text(
        "https://example.org/engine.pdf"
    )
    await expect(ada_page.locator("#source-badge")).to_have_text("Read from MongoDB")

    if path := save_docs_screenshot("chat"):
        await ada_page.evaluate("document.getElementById('toast').classList.remove('shown')")
        await ada_page.locator("#composer-input").blur()
        await ada_page.screenshot(path=path, animations="disabled")


async def test_edits_and_deletes_appear_live(web: AppProcess, pages: Pages) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    dm = await shared_dm(web.url, ada, bob)
    ada_page = await in_the_dm(pages, web.url, ada, dm)
    bob_page = await in_the_dm(pages, web.url, bob, dm, viewport=PHONE)

    await send(ada_page, "See you at 5 tomorow")
    await send(ada_page, "Ignore this one")
    await expect(texts(bob_page)).to_have_text(["See you at 5 tomorow", "Ignore this one"])

    first = ada_page.locator("#messages li[data-id]").first
    await first.get_by_role("button", name=re.compile("^Edit message")).click()
    await ada_page.get_by_role("textbox", name="New text").fill("See you at 5 tomorrow")
    await ada_page.get_by_role("button", name="Save").click()
    await expect(texts(bob_page).first).to_have_text("See you at 5 tomorrow")
    await expect(bob_page.locator("#messages li[data-id]").first.locator(".edited")).to_be_visible()

    second = ada_page.locator("#messages li[data-id]").nth(1)
    await second.get_by_role("button", name=re.compile("^Delete message")).click()
    await expect(texts(bob_page)).to_have_text(
        ["See you at 5 tomorrow", "This message has been deleted."]
    )
    await expect(bob_page.locator("#messages li.deleted")).to_have_count(1)
    # At phone width the rooms are a panel behind the menu button.
    await expect(bob_page.locator("#nav")).to_be_hidden()
    await bob_page.get_by_role("button", name="Rooms").click()
    await expect(bob_page.get_by_role("navigation", name="Rooms")).to_be_visible()


async def test_a_server_channel(web: AppProcess, pages: Pages) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    ada_page = await pages.open("ada", web.url)
    bob_page = await pages.open("bob", web.url)
    await log_in(ada_page, ada)
    await log_in(bob_page, bob)

    await ada_page.get_by_role("button", name="Create a server").click()
    await ada_page.get_by_label("Server name").fill("Difference Engine Club")
    await ada_page.get_by_role("button", name="Create", exact=True).click()
    await expect(ada_page.locator("#room-title")).to_have_text("# general")
    await ada_page.get_by_role("button", name="Invite people").click()
    link = await ada_page.get_by_label("Invite link").input_value()
    await ada_page.get_by_role("button", name="Cancel").click()

    await bob_page.get_by_role("button", name="Join a server").click()
    await bob_page.get_by_label("Invite code or link").fill(link)
    await bob_page.get_by_role("button", name="Join", exact=True).click()
    await expect(bob_page.locator("#server-name")).to_have_text("Difference Engine Club")
    await expect(bob_page.locator("#room-title")).to_have_text("# general")
    await expect(bob_page.get_by_role("button", name="Invite people")).to_have_count(0)  # GUEST

    await expect(bob_page.locator("dialog[open]")).to_have_count(0)
    await bob_page.get_by_label("Link (optional)").fill("https://example.org/notes.pdf")
    await send(bob_page, "Notes from today")
    await expect(texts(ada_page)).to_have_text(["Notes from today"])
    file_link = ada_page.locator("#messages a.file")
    await expect(file_link).to_have_attribute("href", "https://example.org/notes.pdf")
    await send(ada_page, "Thanks Bob")
    await expect(texts(bob_page)).to_have_text(["Notes from today", "Thanks Bob"])

    await bob_page.get_by_role("button", name="Leave server").click()  # confirm() is accepted
    await expect(bob_page.locator("#server-list li")).to_have_count(0)
    await expect(bob_page.locator("#room-title")).to_have_text("Pick a room")


async def test_a_script_message_shows_as_text(web: AppProcess, pages: Pages) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    dm = await shared_dm(web.url, ada, bob)
    ada_page = await in_the_dm(pages, web.url, ada, dm)
    bob_page = await in_the_dm(pages, web.url, bob, dm)

    hostile = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"><b>bold</b>'
    await send(ada_page, hostile)
    for page in (bob_page, ada_page):
        await expect(texts(page)).to_have_text([hostile])
        assert await page.locator("#messages script, #messages img, #messages b").count() == 0
        assert await page.evaluate("window.pwned") is None
    # And after a reload, from the REST history rather than the live event.
    await bob_page.reload()
    await expect(texts(bob_page)).to_have_text([hostile])
    assert await bob_page.evaluate("window.pwned") is None


async def test_a_failed_send_shows_retry_and_does_not_double(web: AppProcess, pages: Pages) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    dm = await shared_dm(web.url, ada, bob)
    page = await pages.open("ada", web.url)
    await log_in(page, ada)
    await open_room(page, web.url, dm)

    # The first attempt is stored but its answer is lost: the retry, with the same
    # nonce, must return that message instead of storing a second one.
    lost = {"count": 0}

    async def lose_first_answer(route: object) -> None:
        if lost["count"] == 0 and route.request.method == "POST":  # type: ignore[attr-defined]
            lost["count"] += 1
            await route.fetch()  # type: ignore[attr-defined]
            await route.abort()  # type: ignore[attr-defined]
        else:
            await route.continue_()  # type: ignore[attr-defined]

    await page.route(f"**/api/rooms/{dm}/messages", lose_first_answer)
    await send(page, "Sent exactly once")
    failed = page.locator("#outbox li[data-status='failed']")
    await expect(failed).to_contain_text("Not sent")
    await failed.get_by_role("button", name="Retry").click()
    await expect(texts(page)).to_have_text(["Sent exactly once"])
    await expect(page.locator("#outbox li")).to_have_count(0)
    stored = await api(web.url, bob, "GET", f"/rooms/{dm}/messages")
    assert [m["content"] for m in stored["items"]] == ["Sent exactly once"]


async def test_an_expired_token_goes_back_to_login(web: AppProcess, pages: Pages) -> None:
    page: Page = await pages.open("ada", web.url)
    await page.evaluate("sessionStorage.setItem('parley.token', 'expired.or.forged')")
    await page.reload()
    await expect(page.locator("#auth-notice")).to_have_text(
        "Your session has expired. Please log in again."
    )
    await expect(page.get_by_label("Email")).to_be_visible()


async def test_a_group_is_created_renamed_and_talks(web: AppProcess, pages: Pages) -> None:
    ada, bob, cy = [await register(web.url, n) for n in ("Ada", "Bob", "Cy")]
    server = await api(web.url, ada, "POST", "/servers", {"name": "Lab"})
    for person in (bob, cy):
        await api(web.url, person, "POST", f"/invites/{server['inviteCode']}")
    ada_page = await pages.open("ada", web.url)
    cy_page = await pages.open("cy", web.url)
    await log_in(ada_page, ada)
    await log_in(cy_page, cy)

    await ada_page.get_by_role("button", name="New group").click()
    await ada_page.get_by_label("Group name (optional)").fill("Engines")
    await ada_page.get_by_label("Bob", exact=True).check()
    await ada_page.get_by_label("Cy", exact=True).check()
    await ada_page.get_by_role("button", name="Create group").click()
    await expect(ada_page.locator("#room-title")).to_have_text("Engines")
    await ada_page.get_by_role("button", name="Rename").click()
    await ada_page.get_by_label("Group name", exact=True).fill("Analytical Engines")
    await ada_page.get_by_role("button", name="Rename", exact=True).last.click()
    await expect(ada_page.locator("#room-title")).to_have_text("Analytical Engines")
    await send(ada_page, "Welcome to the group")

    # Cy's list of rooms picks the new group up (it is polled, and read on focus).
    group = cy_page.get_by_role("navigation", name="Rooms").get_by_role(
        "button", name="Analytical Engines"
    )
    await expect(group).to_be_visible(timeout=40_000)
    await group.click()
    await expect(texts(cy_page)).to_have_text(["Welcome to the group"])
    await expect(cy_page.get_by_role("button", name="Rename")).to_be_hidden()  # a GUEST
    await send(cy_page, "Hello both")
    await expect(texts(ada_page)).to_have_text(["Welcome to the group", "Hello both"])


async def test_history_pages_in_when_scrolling_up(web: AppProcess, pages: Pages) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    dm = await shared_dm(web.url, ada, bob)
    for n in range(75):
        await api(web.url, bob, "POST", f"/rooms/{dm}/messages", {"content": f"message {n}"})
    page = await pages.open("ada", web.url)
    await log_in(page, ada)
    await open_room(page, web.url, dm)
    await expect(texts(page)).to_have_count(50)
    await expect(texts(page).last).to_have_text("message 74")
    await page.locator("#scroller").evaluate("scroller => { scroller.scrollTop = 0; }")
    await expect(texts(page)).to_have_count(75)
    await expect(texts(page).first).to_have_text("message 0")
    await expect(page.get_by_role("button", name="Load older messages")).to_be_hidden()


async def test_keyboard_alone_logs_in_opens_a_room_and_sends(web: AppProcess, pages: Pages) -> None:
    ada, bob = await register(web.url, "Ada"), await register(web.url, "Bob")
    await shared_dm(web.url, ada, bob)
    page = await pages.open("ada", web.url)
    keyboard = page.keyboard
    await expect(page.get_by_label("Email")).to_be_focused()
    await keyboard.type(ada.email)
    await keyboard.press("Tab")
    await expect(page.get_by_label("Password")).to_be_focused()
    await keyboard.type(ada.password)
    await keyboard.press("Enter")
    await expect(page.locator("#me")).to_have_text("Ada")
    # Tab through the page in order until the DM with Bob has the focus.
    dm_button = page.get_by_role("navigation", name="Rooms").get_by_role("button", name="Bob")
    await expect(dm_button).to_be_visible()
    for _ in range(30):
        await keyboard.press("Tab")
        if await dm_button.evaluate("button => button === document.activeElement"):
            break
    await expect(dm_button).to_be_focused()
    await keyboard.press("Enter")
    await expect(page.locator("#room-title")).to_have_text("Bob")
    for _ in range(30):
        await keyboard.press("Tab")
        if await page.locator("#composer-input").evaluate("box => box === document.activeElement"):
            break
    await keyboard.type("Typed without a mouse")
    await keyboard.press("Enter")
    await expect(texts(page)).to_have_text(["Typed without a mouse"])
