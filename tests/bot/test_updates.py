"""The update pipeline with the real bot: a transient failure is retried, never dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.app import build_application
from bot.emulator import BotAPIEmulator
from bot.settings import load_settings
from bot.updates import UpdatePipeline
from matching import Encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from storage.db import Database
from storage.models import Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def newsroom(database: Database, encoder: Encoder) -> AsyncIterator[Newsroom]:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    yield Newsroom(db=database, indexes=indexes)
    indexes.close()


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
