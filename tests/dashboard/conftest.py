"""The dashboard on the real server app (``bot.server.build_web_app``), driven by aiohttp's
test client (and, in test_browser.py, by headless Chromium), with real rows in SQLite and
PostgreSQL.

The browser is Debian's ``chromium`` package driven by Playwright; Playwright's own browser
downloads are never used. Without it the browser tests skip locally, naming the package; with
``TIPLINE_TEST_REQUIRE_BROWSER=1`` (as CI sets) they fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.server import build_web_app
from bot.settings import load_settings
from dashboard.auth import hash_password
from matching import Encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from storage import claims, editors, reporters, subscriptions, tips
from storage.db import Database
from storage.models import EditorRole, FactCheck
from storage.types import utcnow

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
REQUIRE_BROWSER = os.environ.get("TIPLINE_TEST_REQUIRE_BROWSER") == "1"
PASSWORD = "correct horse battery staple"
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
SENDER_ID = 987_654_321_123
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Desk:
    """A test client on the whole web app, and the newsroom behind it."""

    client: TestClient
    newsroom: Newsroom

    @property
    def db(self) -> Database:
        return self.newsroom.db

    async def csrf(self, path: str = "/login") -> str:
        """The CSRF token a page's forms carry (the session cookie comes with it)."""
        response = await self.client.get(path)
        match = _CSRF.search(await response.text())
        assert match is not None, f"no CSRF token on {path}"
        return match.group(1)

    async def login(self, username: str, password: str = PASSWORD) -> int:
        token = await self.csrf("/login")
        response = await self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token},
            allow_redirects=False,
        )
        return response.status

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object) -> int:
        """A form submitted the way a browser would: with the token from the page."""
        token = await self.csrf("/")
        response = await self.client.post(
            path, data={**(data or {}), "csrf_token": token}, allow_redirects=False, **kwargs
        )
        return response.status


@pytest_asyncio.fixture(loop_scope="session")
async def desk(database: Database, encoder: Encoder) -> AsyncIterator[Desk]:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    newsroom = Newsroom(db=database, indexes=indexes, name="Test Newsroom")
    settings = load_settings(
        None, secret_key="test-secret-key-for-the-dashboard", allow_private_urls=True
    )
    client = TestClient(TestServer(build_web_app(newsroom, settings)))
    await client.start_server()
    yield Desk(client, newsroom)
    await client.close()
    indexes.close()


def _browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no {CHROMIUM}: install Debian's chromium package (apt-get install chromium)"
    return None


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for the run; each test opens its own context (cookies apart)."""
    missing = _browser_missing()
    if missing is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"the browser tests are required but cannot run: {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        yield browser
        await browser.close()


async def add_editor(db: Database, username: str, role: EditorRole = EditorRole.EDITOR) -> int:
    async with db.session() as session:
        editor = await editors.add_editor(
            session, username=username, password_hash=hash_password(PASSWORD), role=role
        )
        return editor.id or 0


@pytest_asyncio.fixture(loop_scope="session")
async def editor_desk(desk: Desk) -> Desk:
    """Logged in as an editor called ``ed``."""
    await add_editor(desk.db, "ed")
    assert await desk.login("ed") == 303
    return desk


async def add_claim(
    db: Database,
    text: str,
    senders: Sequence[int],
    *,
    language: str = "en",
    media: bool = False,
    hours_ago: float = 0.0,
    forward_title: str | None = None,
) -> int:
    """A claim with one tip and one subscription per sender, as intake would leave it."""
    at = utcnow() - timedelta(hours=hours_ago)
    async with db.session() as session:
        claim = await claims.create_claim(
            session,
            canonical_text=text,
            language=language,
            languages=[language],
            first_seen_at=at,
            last_seen_at=at,
            tip_count=len(senders),
            reporter_count=len(senders),
        )
        for user_id in senders:
            reporter = await reporters.touch_reporter(session, user_id)
            await tips.record_tip(
                session,
                reporter_id=reporter.id,
                chat_id=user_id,
                message_id=(claim.id or 0) * 1000 + user_id % 1000,
                text=text,
                language=language,
                claim_id=claim.id,
                received_at=at,
                media_kind="photo" if media else None,
                forward_origin_type="channel" if forward_title else None,
                forward_title=forward_title,
                forward_chat_id=-1001234 if forward_title else None,
            )
            await subscriptions.subscribe(session, reporter.id or 0, claim.id or 0)
        return claim.id or 0


async def add_fact_check(
    db: Database,
    *,
    url: str = "https://example.org/fc/1",
    claim_reviewed: str = "The moon is made of cheese",
    headline: str | None = "No, the moon is not made of cheese",
    publisher: str | None = "Example Checks",
    summary: str | None = None,
) -> int:
    async with db.session() as session:
        fact_check = FactCheck(
            url=url,
            claim_reviewed=claim_reviewed,
            headline=headline,
            publisher=publisher,
            summary=summary,
            rating="false",
            rating_text="False",
            language="en",
        )
        session.add(fact_check)
        await session.flush()
        return fact_check.id or 0
