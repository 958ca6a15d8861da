"""The update pipeline with the real bot: a transient failure is retried, never dropped."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

import bot.updates
from bot.app import build_application
from bot.emulator import BotAPIEmulator, Call
from bot.settings import load_settings
from bot.updates import UpdatePipeline
from newsroom.context import Newsroom
from storage.models import Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_tip_whose_first_try_hits_a_locked_database_is_recorded_on_the_retry(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    settings = load_settings(None, bot_token=emulator.token, telegram_api_url=emulator.base_url)
    application = build_application(settings, newsroom)
    failures: list[int] = []

    async def locked_once(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # What SQLite says under a burst: before our handlers run, once per update.
        if update.update_id not in failures:
            failures.append(update.update_id)
            raise OperationalError("INSERT INTO reporter", {}, Exception("database is locked"))

    application.add_handler(MessageHandler(filters.ALL, locked_once), group=-1)
    pipeline = UpdatePipeline(application, newsroom.db, retry_delay=timedelta(0))
    update = emulator.private_message(4242, "Die Sparkassen schließen am Montag für immer!")
    stop = asyncio.Event()
    async with application:
        running = asyncio.create_task(pipeline.run(stop))
        await pipeline.record([update])
        [reply] = await emulator.wait_for(
            "sendMessage", where=lambda call: call.params["chat_id"] in (4242, "4242")
        )
        stop.set()
        await running

    assert failures == [update["update_id"]]
    assert "editors will look at it" in reply.params["text"]  # the answer, not an apology
    assert len(emulator.sent_messages(4242)) == 1
    async with newsroom.db.session() as session:
        assert len((await session.exec(select(Tip))).all()) == 1


async def test_an_answer_telegram_failed_to_take_is_sent_when_the_update_is_retried(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    settings = load_settings(None, bot_token=emulator.token, telegram_api_url=emulator.base_url)
    application = build_application(settings, newsroom)
    pipeline = UpdatePipeline(application, newsroom.db, retry_delay=timedelta(0))
    # The tip is filed and committed; then Telegram fails the answer (as when the worker dies
    # between the two). The retry must answer, and only once.
    emulator.fail_next("sendMessage", error_code=502, description="Bad Gateway", chat_id=4343)
    update = emulator.private_message(4343, "Ab Montag ist Bargeld in ganz Europa verboten!")
    stop = asyncio.Event()
    async with application:
        running = asyncio.create_task(pipeline.run(stop))
        await pipeline.record([update])
        async with asyncio.timeout(10):  # the failed try, then the retry that gets through
            while not emulator.sent_messages(4343):  # noqa: ASYNC110 (the emulator's record)
                await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)  # time for a second answer, were one to come
        stop.set()
        await running

    [answer] = emulator.sent_messages(4343)
    assert "editors will look at it" in answer["text"]
    async with newsroom.db.session() as session:
        [tip] = (await session.exec(select(Tip))).all()
    assert tip.reply_sent_at is not None


async def test_a_worker_still_answering_keeps_its_update_from_a_second_worker(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    settings = load_settings(None, bot_token=emulator.token, telegram_api_url=emulator.base_url)
    applications = [build_application(settings, newsroom) for _ in range(2)]
    # Two workers on one database; sending the answer takes longer than a lease.
    pipelines = [
        UpdatePipeline(app, newsroom.db, lease=timedelta(seconds=1)) for app in applications
    ]
    update = emulator.private_message(4444, "Ab morgen kostet jede Überweisung zehn Euro Gebühr!")
    stop = asyncio.Event()
    async with applications[0], applications[1]:
        emulator.response_delay = 2.5
        await pipelines[0].record([update])
        running = [asyncio.create_task(pipeline.run(stop)) for pipeline in pipelines]
        async with asyncio.timeout(15):
            while not emulator.sent_messages(4444):  # noqa: ASYNC110 (the emulator's record)
                await asyncio.sleep(0.02)
        await asyncio.sleep(4)  # time for the other worker to answer too, were it to take over
        stop.set()
        await asyncio.gather(*running)

    assert len(emulator.sent_messages(4444)) == 1
    async with newsroom.db.session() as session:
        [tip] = (await session.exec(select(Tip))).all()
    assert tip.reply_sent_at is not None


async def _database_away(url: str, seconds: float) -> None:
    """The database refuses the bot for ``seconds``: SQLite locked by another process's
    writer (longer than the bot's busy timeout), PostgreSQL closed to connections."""
    if url.startswith("sqlite"):
        writer = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        await asyncio.sleep(seconds)
        writer.execute("ROLLBACK")
        writer.close()
        return
    server, name = url.replace("+asyncpg", "").rsplit("/", 1)
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await asyncio.sleep(seconds)
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def test_an_answer_that_went_out_is_not_sent_again_when_the_database_fails_just_after(
    emulator: BotAPIEmulator, newsroom: Newsroom, database_url: str
) -> None:
    settings = load_settings(None, bot_token=emulator.token, telegram_api_url=emulator.base_url)
    application = build_application(settings, newsroom)
    pipeline = UpdatePipeline(
        application, newsroom.db, lease=timedelta(seconds=2), retry_delay=timedelta(0)
    )
    outages: list[asyncio.Task[None]] = []

    async def database_fails(call: Call) -> None:
        # Telegram has taken the answer; the database goes before the bot can record that.
        if call.method == "sendMessage" and not outages:
            # On SQLite, longer than two busy timeouts (5 s each): the bot's write fails even
            # when it is queued behind the inbox loop's, which waits out the first.
            seconds = 11.0 if database_url.startswith("sqlite") else 1.0
            outages.append(asyncio.create_task(_database_away(database_url, seconds)))
            await asyncio.sleep(0.3)  # the outage has begun when the bot hears back

    emulator.before_answering = database_fails
    update = emulator.private_message(4545, "Ab Juli wird das Leitungswasser rationiert!")
    stop = asyncio.Event()
    async with application:
        running = asyncio.create_task(pipeline.run(stop))
        await pipeline.record([update])
        async with asyncio.timeout(15):
            while not outages:  # noqa: ASYNC110 (the emulator's hook)
                await asyncio.sleep(0.02)
        await outages[0]
        # Time for a second answer, were one to come: the inbox loop's backoff, then the lease.
        await asyncio.sleep(6)
        stop.set()
        await running

    assert len(emulator.sent_messages(4545)) == 1
    async with newsroom.db.session() as session:
        [tip] = (await session.exec(select(Tip))).all()
    assert tip.reply_sent_at is not None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_update_recorded_while_the_worker_leases_is_not_left_waiting(
    emulator: BotAPIEmulator, newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the poller commits an update while the worker's lease query is still
    # open; the wake-up it gave was then cleared, and the update waited for the next look
    # (a second, here a minute).
    settings = load_settings(None, bot_token=emulator.token, telegram_api_url=emulator.base_url)
    application = build_application(settings, newsroom)
    pipeline = UpdatePipeline(application, newsroom.db, look_again=timedelta(minutes=1))
    late = emulator.private_message(4545, "The bridge on the A7 collapsed this morning!")
    lease, delivered = bot.updates.lease_pending_updates, []

    async def lease_while_telegram_delivers(*args: Any, **kwargs: Any) -> list[Any]:
        leased = await lease(*args, **kwargs)
        if not delivered:
            delivered.append(late)
            await asyncio.create_task(pipeline.record([late]))  # the poller, meanwhile
        return leased

    monkeypatch.setattr(bot.updates, "lease_pending_updates", lease_while_telegram_delivers)
    stop = asyncio.Event()
    async with application:
        running = asyncio.create_task(pipeline.run(stop))
        try:
            await emulator.wait_for("sendMessage", where=lambda c: c.params["chat_id"] == 4545)
        finally:
            stop.set()
            await running
    assert len(emulator.sent_messages(4545)) == 1
