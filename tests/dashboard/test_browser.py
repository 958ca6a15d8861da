"""The dashboard in a real browser: headless Chromium (Debian's package, driven by Playwright)
against the real server app on a real database, used with the keyboard as an editor would.

These catch what aiohttp's test client cannot: the confirm dialog, the CSP letting our own
scripts run (and nothing else), the live refresh script, and labels that a user can find.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from conftest import PASSWORD, SENDER_ID, Desk, add_claim, add_editor, add_fact_check
from sqlmodel import select

from storage.models import Claim, ClaimStatus, OutboxMessage, OutboxStatus

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def page(desk: Desk, chromium: Browser) -> AsyncIterator[Page]:
    """A fresh browser tab on the test server, with its own cookies; any script error or CSP
    violation it reports is kept in ``page.problems``."""
    from playwright.async_api import expect

    # Generous waits: two cores are shared by the whole suite, and a wait ends when met.
    expect.set_options(timeout=15_000)
    context = await chromium.new_context(base_url=str(desk.client.make_url("/")).rstrip("/"))
    context.set_default_timeout(15_000)
    tab = await context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: message.type == "error" and problems.append(message.text))
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on(
        "response",
        lambda response: (
            response.status >= 400 and problems.append(f"{response.status} {response.url}")
        ),
    )
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    await context.close()


async def _log_in(page: Page, username: str) -> None:
    """Log in with the keyboard only: the username field has focus, Tab, Enter."""
    from playwright.async_api import expect

    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    await expect(page.get_by_label("Username")).to_be_focused()
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Queue")).to_be_visible()


async def test_an_editor_finds_a_claim_answers_it_and_the_outbox_fills(
    desk: Desk, page: Page
) -> None:
    from playwright.async_api import expect

    await add_editor(desk.db, "ed")
    senders = [SENDER_ID, SENDER_ID + 1, SENDER_ID + 2]
    claim_id = await add_claim(desk.db, "Scientists admit the moon is made of cheese", senders)
    await add_claim(desk.db, "Tap water in the city is poisoned", [21, 22])
    await add_claim(desk.db, "Das Leitungswasser der Stadt ist vergiftet", [23], language="de")
    fact_check_id = await add_fact_check(desk.db)
    dialogs: list[str] = []

    async def accept(dialog: object) -> None:
        dialogs.append(dialog.message)  # type: ignore[attr-defined]
        await dialog.accept()  # type: ignore[attr-defined]

    page.on("dialog", accept)
    await _log_in(page, "ed")
    rows = page.locator("#queue-rows tr")
    await expect(rows).to_have_count(3)

    # Find the claim: filter by language, then search.
    await page.get_by_label("Language").select_option("en")
    await page.get_by_role("button", name="Filter").press("Enter")
    await expect(rows).to_have_count(2)
    await page.get_by_label("Search text or claim number").fill("moon")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"language=en.*q=moon|q=moon.*language=en"))
    await expect(rows).to_have_count(1)
    await rows.get_by_role("link", name="Scientists admit the moon").press("Enter")
    await expect(page.get_by_role("heading", name=f"Claim #{claim_id}")).to_be_visible()

    # Find the fact-check in the library from the claim page, and answer with it.
    await page.get_by_label("Search the library").fill("cheese")
    await page.keyboard.press("Enter")
    found = page.locator(".suggestion", has_text="No, the moon is not made of cheese").last
    await found.get_by_role("button", name="Answer with this").press("Enter")
    await expect(page.get_by_role("status")).to_have_text(
        f"Claim #{claim_id} is answered; 3 senders will be told."
    )
    assert dialogs == [f"Answer claim #{claim_id} with this fact-check and notify its senders?"]
    await expect(page.locator("h1 .badge")).to_have_text("answered")
    await expect(page.locator(".timeline")).to_contain_text("via dashboard")

    # The outbox filled: one pending notification per sender, as the server's metrics say.
    async with desk.db.session() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
        claim = await session.get_one(Claim, claim_id)
    assert sorted(message.chat_id for message in outbox) == senders
    assert {message.status for message in outbox} == {OutboxStatus.PENDING}
    assert (claim.status, claim.fact_check_id) == (ClaimStatus.ANSWERED, fact_check_id)
    assert page.problems == []  # type: ignore[attr-defined]
    await page.goto("/metrics")
    await expect(page.locator("body")).to_contain_text(
        'tipline_outbox_messages{status="pending"} 3'
    )


async def test_the_queue_refreshes_itself_and_sends_an_expired_session_to_login(
    desk: Desk, page: Page
) -> None:
    from playwright.async_api import expect

    await add_editor(desk.db, "ed")
    await add_claim(desk.db, "Bananas cure the flu", [1])
    await _log_in(page, "ed")
    rows = page.locator("#queue-rows tr")
    await expect(rows).to_have_count(1)
    await expect(page.locator("#refresh-status")).to_have_text("Live: refreshes every 15 seconds")

    await add_claim(desk.db, "Onions in socks cure the flu", [2, 3])
    # Coming back to the tab refreshes at once rather than after up to 15 seconds.
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await expect(rows.first).to_contain_text("Onions in socks cure the flu")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#refresh-status")).to_contain_text("Updated")
    assert page.problems == []  # type: ignore[attr-defined]

    await page.context.clear_cookies()
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert "Bananas" not in await page.content()
