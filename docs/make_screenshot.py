"""Regenerate docs/dashboard-queue.png: the editors' queue with invented demo claims.

Runs the real server app on a throw-away SQLite database, fills it with made-up claims in
several languages (no real people, no real senders), logs in with headless Chromium
(Debian's ``chromium`` package, driven by Playwright) and photographs the queue.

    .venv/bin/python docs/make_screenshot.py [--output docs/dashboard-queue.png]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from playwright.async_api import async_playwright

from bot.server import build_web_app
from bot.settings import load_settings
from dashboard.auth import hash_password
from matching import load_encoder
from newsroom import desk
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from storage import claims, editors, reporters, subscriptions, tips
from storage.db import Database, upgrade_database
from storage.models import EditorRole
from storage.types import utcnow

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EDITOR = "amina"
PASSWORD = secrets.token_urlsafe(16)  # this run only: the database is thrown away


@dataclass(frozen=True)
class DemoClaim:
    """An invented rumour: its wording per language, how many sent it, and when."""

    texts: dict[str, str]
    senders: int
    first_hours_ago: float
    last_hours_ago: float
    media: str | None = None
    channel: str | None = None
    assigned: bool = False


DEMO_CLAIMS = (
    DemoClaim(
        {
            "en": "Drinking hot water every fifteen minutes kills the virus in your throat",
            "es": "Beber agua caliente cada quince minutos mata el virus en la garganta",
        },
        senders=41,
        first_hours_ago=30,
        last_hours_ago=0.1,
        assigned=True,
    ),
    DemoClaim(
        {"uk": "Воду з-під крана в місті отруїли, не пийте її до понеділка"},
        senders=23,
        first_hours_ago=3,
        last_hours_ago=0.05,
        channel="Новини району 24/7",
    ),
    DemoClaim(
        {"de": "Die neue Funkantenne am Bahnhof verursacht Kopfschmerzen bei Kindern"},
        senders=17,
        first_hours_ago=50,
        last_hours_ago=2,
        media="photo",
    ),
    DemoClaim(
        {
            "fr": "Les billets de 50 euros seront retirés de la circulation le mois prochain",
            "en": "50 euro notes will be withdrawn from circulation next month",
        },
        senders=12,
        first_hours_ago=20,
        last_hours_ago=1.5,
    ),
    DemoClaim(
        {"en": "Screenshot: all schools in the city close on Monday because of a gas leak"},
        senders=9,
        first_hours_ago=1,
        last_hours_ago=0.2,
        media="photo",
    ),
    DemoClaim(
        {"tr": "Belediye açıkladı: su kesintisi bütün hafta sürecek"},
        senders=6,
        first_hours_ago=8,
        last_hours_ago=4,
    ),
    DemoClaim(
        {"ar": "تناول الملح يحمي من الإشعاع"},
        senders=4,
        first_hours_ago=70,
        last_hours_ago=26,
        media="video",
    ),
    DemoClaim(
        {"ru": "В супермаркетах закончится хлеб из-за забастовки пекарей"},
        senders=3,
        first_hours_ago=12,
        last_hours_ago=9,
    ),
)


async def _seed(db: Database) -> None:
    """The demo claims with one tip and one subscription per (invented) sender."""
    now = utcnow()
    async with db.session() as session:
        editor = await editors.add_editor(
            session,
            username=EDITOR,
            password_hash=await asyncio.to_thread(hash_password, PASSWORD),
            role=EditorRole.EDITOR,
        )
    sender = 5_000_000
    claim_ids: list[tuple[int, DemoClaim]] = []
    for demo in DEMO_CLAIMS:
        languages = list(demo.texts)
        span = demo.first_hours_ago - demo.last_hours_ago
        async with db.session() as session:
            claim = await claims.create_claim(
                session,
                canonical_text=demo.texts[languages[0]],
                language=languages[0],
                languages=languages,
                first_seen_at=now - timedelta(hours=demo.first_hours_ago),
                last_seen_at=now - timedelta(hours=demo.last_hours_ago),
                tip_count=demo.senders,
                reporter_count=demo.senders,
            )
            for number in range(demo.senders):
                sender += 1
                # The newest tips crowd together: that is the growth the queue ranks by.
                hours_ago = demo.last_hours_ago + span * (number / max(1, demo.senders - 1)) ** 2
                language = languages[number % len(languages)]
                reporter = await reporters.touch_reporter(session, sender)
                await tips.record_tip(
                    session,
                    reporter_id=reporter.id,
                    chat_id=sender,
                    message_id=number + 1,
                    text=demo.texts[language],
                    language=language,
                    claim_id=claim.id,
                    received_at=now - timedelta(hours=hours_ago),
                    media_kind=demo.media,
                    forward_origin_type="channel" if demo.channel else None,
                    forward_title=demo.channel,
                )
                await subscriptions.subscribe(session, reporter.id or 0, claim.id or 0)
            claim_ids.append((claim.id or 0, demo))
    actor = desk.Actor(editor_id=editor.id, name=EDITOR, role="editor", source="dashboard")
    for claim_id, demo in claim_ids:
        if demo.assigned:
            await desk.assign_claim(db, actor, claim_id)


async def _photograph(base_url: str, output: Path, chromium: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            base_url=base_url, viewport={"width": 1280, "height": 800}, locale="en-GB"
        )
        page = await context.new_page()
        await page.goto("/login")
        await page.get_by_label("Username").fill(EDITOR)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("heading", name="Queue").wait_for()
        await page.screenshot(path=str(output), type="png")
        await browser.close()


async def main(output: Path, chromium: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tipline-screenshot-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}"
        await upgrade_database(url)
        db = Database(url)
        await _seed(db)
        indexes = MatchingIndexes(load_encoder())
        await indexes.refresh(db)
        newsroom = Newsroom(db=db, indexes=indexes, name="Demo newsroom")
        settings = load_settings(None, secret_key=secrets.token_urlsafe(32))
        runner = web.AppRunner(build_web_app(newsroom, settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            await _photograph(f"http://127.0.0.1:{port}", output, chromium)
        finally:
            await runner.cleanup()
            indexes.close()
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=HERE / "dashboard-queue.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.output, arguments.chromium))
