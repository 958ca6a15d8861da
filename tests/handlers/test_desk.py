"""The newsroom desk end to end: editors in their Telegram group, senders told of verdicts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from aiohttp import web
from sqlmodel import func, select
from tipline_harness import TipLine

from bot.app import build_application
from bot.delivery import DeliveryLimits, OutboxDelivery
from bot.emulator import BotAPIEmulator, Call
from bot.settings import load_settings
from handlers.desk import announce_claims
from matching import Encoder
from newsroom.alerts import AlertPolicy
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from storage import claims, editors, reporters, subscriptions, tips
from storage.db import Database
from storage.models import AuditEvent, Claim, EditorRole, FactCheck, OutboxMessage

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEWSROOM = -1001000000001
EDITOR = 500
VIEWER = 501
STRANGER = 666
FACT_CHECK_URL = "https://example.org/fc/banks"
RUMOUR = "All <b>banks</b> close on Monday for two weeks, withdraw your money now!"
OTHER_RUMOUR = "Das Leitungswasser in Köln ist seit gestern vergiftet, kocht es ab!"
NOW = AlertPolicy(edit_every=timedelta(0))
FAST = DeliveryLimits(messages_per_second=500, seconds_per_chat=0.01, idle_seconds=0.02)


@pytest_asyncio.fixture(loop_scope="session")
async def desk(
    database: Database, emulator: BotAPIEmulator, encoder: Encoder
) -> AsyncIterator[TipLine]:
    """A running tip line with a newsroom group and one editor (``EDITOR``)."""
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    newsroom = Newsroom(db=database, indexes=indexes, name="Demo Newsroom")
    settings = load_settings(
        None,
        bot_token=emulator.token,
        telegram_api_url=emulator.base_url,
        telegram_file_url=emulator.base_file_url,
        editor_telegram_ids=(EDITOR,),
        newsroom_chat_id=NEWSROOM,
        allow_private_urls=True,
    )
    application = build_application(settings, newsroom)
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield TipLine(emulator, application, newsroom)
        await application.updater.stop()
        await application.stop()
    indexes.close()


async def _editor_says(desk: TipLine, text: str, *, user_id: int = EDITOR) -> str:
    emu = desk.emulator
    [reply] = await desk.send(emu.group_message(NEWSROOM, user_id, text, title="Newsroom"))
    return reply["text"]


async def _announce(desk: TipLine, policy: AlertPolicy = NOW) -> int:
    return await announce_claims(desk.application.bot, desk.newsroom.db, NEWSROOM, policy)


async def _fact_check(db: Database, url: str = FACT_CHECK_URL) -> int:
    async with db.session() as session:
        fact_check = FactCheck(
            url=url,
            claim_reviewed="Banks close on Monday for two weeks",
            headline="No, banks do not close on Monday",
            publisher="Demo Check",
            rating="false",
        )
        session.add(fact_check)
        await session.flush()
        return fact_check.id


async def _claim_with_subscribers(db: Database, user_ids: range) -> int:
    """A queued claim and its waiting senders, as two hundred forwards would leave them."""
    async with db.session() as session:
        claim = await claims.create_claim(
            session,
            canonical_text=RUMOUR,
            language="en",
            languages=["en"],
            tip_count=len(user_ids),
            reporter_count=len(user_ids),
        )
        for user_id in user_ids:
            reporter = await reporters.touch_reporter(session, user_id)
            await tips.record_tip(
                session,
                reporter_id=reporter.id,
                chat_id=user_id,
                message_id=1,
                text=RUMOUR,
                language="en",
                claim_id=claim.id,
            )
            await subscriptions.subscribe(session, reporter.id, claim.id)
        return claim.id


async def _deliver(desk: TipLine, limits: DeliveryLimits) -> None:
    delivery = OutboxDelivery(desk.application.bot, desk.newsroom.db, limits)
    async with asyncio.timeout(60):
        while True:
            async with desk.newsroom.db.session() as session:
                statement = select(func.count()).select_from(OutboxMessage)
                pending = statement.where(OutboxMessage.status == "pending")
                if not (await session.exec(pending)).one():
                    return
            if not await delivery.deliver_due():
                await asyncio.sleep(0.02)


def _private_sends(emulator: BotAPIEmulator) -> list[Call]:
    return [c for c in emulator.calls if c.method == "sendMessage" and int(c.params["chat_id"]) > 0]


async def test_editor_answers_a_claim_with_200_subscribers_within_telegrams_limits(
    desk: TipLine,
) -> None:
    emu, db = desk.emulator, desk.newsroom.db
    senders = range(10_000, 10_200)
    claim_id = await _claim_with_subscribers(db, senders)
    await _fact_check(db)
    emu.block(10_007)
    emu.fail_next(
        "sendMessage",
        error_code=429,
        description="Too Many Requests",
        retry_after=1,
        chat_id=10_050,
    )

    reply = await _editor_says(desk, f"/verdict {claim_id} {FACT_CHECK_URL}")
    assert f"Claim #{claim_id} answered" in reply
    assert "200 people will be notified" in reply
    await _deliver(desk, DeliveryLimits())  # Telegram's real limits: 25/s, 1/s per chat

    sends = _private_sends(emu)
    delivered = [c for c in sends if c.ok]
    assert sorted(int(c.params["chat_id"]) for c in delivered) == [
        s for s in senders if s != 10_007
    ]
    assert all(len(emu.sent_messages(s)) == (0 if s == 10_007 else 1) for s in senders)
    assert "No, banks do not close on Monday" in emu.sent_messages(10_000)[0]["text"]
    times = sorted(c.at for c in sends)
    for first, last in zip(times, times[25:], strict=False):
        assert last - first >= 1.0
    retried = [c.at for c in sends if int(c.params["chat_id"]) == 10_050]
    assert len(retried) == 2
    assert retried[1] - retried[0] >= 1.0
    async with db.session() as session:
        blocked = await reporters.get_reporter(session, 10_007)
        statuses = (
            await session.exec(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
        ).all()
    assert blocked is not None
    assert blocked.blocked_bot
    assert dict(statuses) == {"sent": 199, "failed": 1}

    # Reopened and answered again with a correction: the blocked sender is not written to.
    await _editor_says(desk, f"/reopen {claim_id}")
    await _fact_check(db, "https://example.org/fc/banks-update")
    reply = await _editor_says(desk, f"/verdict {claim_id} https://example.org/fc/banks-update")
    assert "199 people will be notified" in reply
    assert "1 person blocked the bot" in reply


async def test_a_burst_of_forwards_makes_one_alert_whose_counts_grow_in_place(
    desk: TipLine,
) -> None:
    emu = desk.emulator
    origin = emu.origin_channel(-1009988776655, "Panik <Kanal>", "panik_kanal", 5, 1731400000)
    for user_id in (201, 202, 203):
        await desk.send(emu.private_message(user_id, RUMOUR, forward_origin=origin))
    assert await _announce(desk) == 1
    [alert] = emu.sent_messages(NEWSROOM)
    assert "Claim #" in alert["text"]
    assert "3 forwards from 3 people" in alert["text"]
    assert "&lt;b&gt;banks&lt;/b&gt;" in alert["text_html"]
    assert "Panik &lt;Kanal&gt; (@panik_kanal) ×3" in alert["text_html"]
    buttons = [b["text"] for row in alert["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [
        "Assign to me",
        "Not checkable",
        "Reject",
        "Merge into…",
        "Attach fact-check",
    ]

    for user_id in (204, 205):
        await desk.send(emu.private_message(user_id, RUMOUR))
    await _announce(desk)
    assert await _announce(desk) == 0  # nothing changed since
    [alert] = emu.sent_messages(NEWSROOM)
    assert "5 forwards from 5 people" in alert["text"]
    assert len([c for c in emu.calls if c.method == "editMessageText"]) == 1


async def test_a_trending_claim_is_re_announced_once_with_its_rate(desk: TipLine) -> None:
    emu = desk.emulator
    await desk.send(emu.private_message(301, RUMOUR))
    await _announce(desk)
    for user_id in range(302, 306):
        await desk.send(emu.private_message(user_id, RUMOUR))
    trending = AlertPolicy(edit_every=timedelta(0), trending_per_hour=5)
    await _announce(desk, trending)
    await _announce(desk, trending)
    messages = emu.sent_messages(NEWSROOM)
    assert len(messages) == 2
    assert "Trending" in messages[1]["text"]
    assert "5 forwards per hour" in messages[1]["text"]
    assert messages[1]["reply_to_message"]["message_id"] == messages[0]["message_id"]


async def test_buttons_act_and_the_alert_shows_the_new_status(desk: TipLine) -> None:
    emu = desk.emulator
    await desk.send(emu.private_message(401, RUMOUR))
    await _announce(desk)
    [alert] = emu.sent_messages(NEWSROOM)
    emu.push_update(emu.callback_query(EDITOR, alert, alert_button(alert, "Assign to me")))
    await emu.wait_for("editMessageText")
    [alert] = emu.sent_messages(NEWSROOM)
    assert "in_review" in alert["text"]

    emu.push_update(emu.callback_query(EDITOR, alert, alert_button(alert, "Not checkable")))
    await emu.wait_for("editMessageText", count=2)
    [alert] = emu.sent_messages(NEWSROOM)
    assert "not_checkable" in alert["text"]
    assert [b["text"] for b in alert["reply_markup"]["inline_keyboard"][0]] == ["Reopen"]
    async with desk.newsroom.db.session() as session:
        actions = (await session.exec(select(AuditEvent.action, AuditEvent.actor))).all()
    assert sorted(actions) == [("assign", f"tg:{EDITOR}"), ("not_checkable", f"tg:{EDITOR}")]


def alert_button(message: dict[str, object], label: str) -> str:
    rows = message["reply_markup"]["inline_keyboard"]  # type: ignore[index]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


async def test_non_editors_get_only_a_polite_refusal_anywhere(desk: TipLine) -> None:
    emu, db = desk.emulator, desk.newsroom.db
    await desk.send(emu.private_message(501_000, RUMOUR))
    await _announce(desk)
    [alert] = emu.sent_messages(NEWSROOM)
    claim_id = int(alert["text"].split("#")[1].split()[0])
    await _fact_check(db)

    refusal = await _editor_says(desk, f"/verdict {claim_id} {FACT_CHECK_URL}", user_id=STRANGER)
    assert refusal == "Sorry, this command is only for the newsroom's editors."
    [private] = await desk.send(emu.private_message(STRANGER, "/queue", language_code="de"))
    assert private["text"] == "Entschuldigung, dieser Befehl ist nur für die Redaktion."
    [group] = await desk.send(emu.group_message(-555, STRANGER + 1, f"/assign {claim_id}"))
    assert "only for the newsroom's editors" in group["text"]
    emu.push_update(emu.callback_query(STRANGER, alert, alert_button(alert, "Reject")))
    [answer] = await emu.wait_for("answerCallbackQuery")
    assert answer.params["show_alert"] in (True, "true")
    # The stranger's Telegram app now speaks German (their /queue above said so).
    assert answer.params["text"] == "Entschuldigung, dieser Befehl ist nur für die Redaktion."

    assert len(emu.sent_messages(STRANGER)) == 1
    assert len(emu.sent_messages(NEWSROOM)) == 2  # the alert and the refusal
    assert not [c for c in emu.calls if c.method == "editMessageText"]
    async with db.session() as session:
        claim = await session.get_one(Claim, claim_id)
        audit = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
        queued = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    assert (claim.status, audit, queued) == ("new", 0, 0)


async def test_a_viewer_may_read_the_queue_but_not_act(desk: TipLine) -> None:
    emu = desk.emulator
    async with desk.newsroom.db.session() as session:
        await editors.add_editor(
            session,
            username="vera",
            password_hash=None,
            telegram_user_id=VIEWER,
            role=EditorRole.VIEWER,
        )
    await desk.send(emu.private_message(601, RUMOUR))
    queue = await _editor_says(desk, "/queue", user_id=VIEWER)
    assert "Open claims" in queue
    assert "banks" in queue
    refusal = await _editor_says(desk, "/assign 1", user_id=VIEWER)
    assert "your role lets you look at claims but not change them" in refusal


async def test_merge_moves_senders_and_a_later_verdict_reaches_both(desk: TipLine) -> None:
    emu, db = desk.emulator, desk.newsroom.db
    await desk.send(emu.private_message(701, RUMOUR, language_code="en"))
    await desk.send(emu.private_message(702, "Aliens landed in Berlin and the police hide it"))
    async with db.session() as session:
        first, second = (await session.exec(select(Claim.id).order_by(Claim.id))).all()
    await _fact_check(db)

    reply = await _editor_says(desk, f"/merge {second} {first}")
    assert f"Claim #{second}: merged into #{first}" in reply
    assert "now has 2 senders" in reply
    reply = await _editor_says(desk, f"/verdict {first} {FACT_CHECK_URL}")
    assert "2 people will be notified" in reply
    await _deliver(desk, FAST)
    for user_id in (701, 702):
        verdicts = [m for m in emu.sent_messages(user_id) if FACT_CHECK_URL in m["text_html"]]
        assert len(verdicts) == 1, user_id
    reply = await _editor_says(desk, f"/assign {second}")
    assert "merged into another one" in reply


async def test_queue_claim_stats_reject_and_reopen_commands(desk: TipLine) -> None:
    emu = desk.emulator
    await desk.send(emu.private_message(801, RUMOUR))
    await desk.send(emu.private_message(802, RUMOUR))
    await desk.send(emu.private_message(803, OTHER_RUMOUR, language_code="de"))
    async with desk.newsroom.db.session() as session:
        banks, water = (await session.exec(select(Claim.id).order_by(Claim.id))).all()

    queue = await _editor_says(desk, "/queue")
    assert queue.index(f"#{banks}") < queue.index(f"#{water}")
    assert f"#{banks}" not in await _editor_says(desk, "/queue de")
    detail = await _editor_says(desk, f"/claim {banks}")
    assert "2 forwards from 2 people" in detail
    assert "2 waiting for a verdict" in detail
    assert "Reason: spam" not in detail

    assert "rejected" in await _editor_says(desk, f"/reject {water} spam")
    assert "reopen it first" in await _editor_says(desk, f"/assign {water}")
    assert "now new" in await _editor_says(desk, f"/reopen {water}")
    assert "assigned to tg:500" in await _editor_says(desk, f"/assign {water}")
    assert "There is no claim #999" in await _editor_says(desk, "/claim 999")
    assert "Usage: /merge N M" in await _editor_says(desk, "/merge 1")
    stats = await _editor_says(desk, "/stats")
    assert "Tips: 3 from 3 people" in stats
    assert "in_review 1" in stats


async def test_verdict_with_a_new_url_imports_the_fact_check_on_the_fly(desk: TipLine) -> None:
    emu = desk.emulator
    await desk.send(emu.private_message(901, RUMOUR))
    review = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": "http://127.0.0.1/fc/banks",
        "claimReviewed": "Banks close on Monday for two weeks",
        "reviewRating": {"@type": "Rating", "alternateName": "False"},
        "author": {"@type": "Organization", "name": "Local Check"},
        "headline": "Banks stay open",
    }
    page = (
        "<html><head><title>Banks stay open</title>"
        f'<script type="application/ld+json">{json.dumps(review)}</script></head>'
        "<body><h1>Banks stay open</h1></body></html>"
    )

    async def article(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/fc/banks", article)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with desk.newsroom.db.session() as session:
            claim_id = (await session.exec(select(Claim.id))).one()
        url = f"http://127.0.0.1:{port}/fc/banks"
        reply = await _editor_says(desk, f"/verdict {claim_id} {url}")
    finally:
        await runner.cleanup()
    assert f"Claim #{claim_id} answered" in reply
    assert "1 person will be notified" in reply
    async with desk.newsroom.db.session() as session:
        claim = await session.get_one(Claim, claim_id)
        fact_check = await session.get_one(FactCheck, claim.fact_check_id)
    assert fact_check.claim_reviewed == "Banks close on Monday for two weeks"
