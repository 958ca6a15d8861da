"""The real bot (PTB Application, handlers, database, matcher) against the Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from tipline_harness import TipLine

from bot.app import build_application
from bot.emulator import BotAPIEmulator
from bot.settings import load_settings
from matching import Encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakePolicy
from storage.db import Database


@pytest_asyncio.fixture(loop_scope="session")
async def tipline(
    database: Database, emulator: BotAPIEmulator, encoder: Encoder
) -> AsyncIterator[TipLine]:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    newsroom = Newsroom(
        db=database,
        indexes=indexes,
        policy=IntakePolicy(rate_limit_tips=5, rate_limit_window=timedelta(minutes=10)),
        name="Demo Newsroom",
    )
    settings = load_settings(
        None,
        bot_token=emulator.token,
        telegram_api_url=emulator.base_url,
        telegram_file_url=emulator.base_file_url,
    )
    application = build_application(settings, newsroom)
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield TipLine(emulator, application, newsroom)
        await application.updater.stop()
        await application.stop()
    indexes.close()
