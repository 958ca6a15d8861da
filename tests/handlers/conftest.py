"""The real bot (PTB Application, handlers, database, matcher) against the Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from tipline_harness import TipLine

from bot.app import build_application
from bot.emulator import BotAPIEmulator
from bot.settings import load_settings
from bot.updates import UpdatePipeline
from matching import Encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakePolicy
from storage.db import Database


@pytest_asyncio.fixture(loop_scope="session")
async def tipline(
    database: Database, emulator: BotAPIEmulator, encoder: Encoder, request: pytest.FixtureRequest
) -> AsyncIterator[TipLine]:
    """Polling by default; ``indirect`` parametrisation with "webhook" delivers each update in a
    webhook request instead, whose 200 carries the answer."""
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
        if getattr(request, "param", "polling") == "webhook":
            webhook = UpdatePipeline(application, database)
            yield TipLine(emulator, application, newsroom, webhook)
        else:
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            yield TipLine(emulator, application, newsroom)
            await application.updater.stop()
        await application.stop()
    indexes.close()
