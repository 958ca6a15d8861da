"""`tipline sandbox`: the real tip line against a local Telegram emulator, with a chat page.

Nothing leaves the machine: the bot talks to the emulator on 127.0.0.1, a person plays a
member of the public in the browser, and demo fact-checks (example.org links, marked as
demo data) are loaded so that answers appear at once.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import SecretStr

from bot.emulator import BotAPIEmulator
from bot.runtime import open_newsroom, serve, stop_on_signals
from bot.settings import Settings
from newsroom.factchecks import load_demo_fact_checks

log = logging.getLogger(__name__)

SANDBOX_DATABASE_URL = "sqlite+aiosqlite:///tipline-sandbox.db"


async def run_sandbox(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run until Ctrl-C (or ``stop``): emulator on PORT+1, dashboard and health on PORT."""
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    emulator = BotAPIEmulator()
    await emulator.start(settings.host, settings.port + 1)
    sandbox = settings.model_copy(
        update={
            "bot_token": SecretStr(emulator.token),
            "telegram_api_url": emulator.base_url,
            "telegram_file_url": emulator.base_file_url,
            "mode": "polling",
            "database_url": SANDBOX_DATABASE_URL
            if settings.database_url == Settings.model_fields["database_url"].default
            else settings.database_url,
        }
    )
    try:
        async with open_newsroom(sandbox, name="the demo newsroom") as newsroom:
            report = await load_demo_fact_checks(newsroom.db)
            await newsroom.indexes.refresh(newsroom.db)
            log.info("sandbox: demo %s", report.summary())
            print(
                f"Sandbox ready. Chat as a member of the public: {emulator.sandbox_url}\n"
                f"Health: http://{settings.host}:{settings.port}/healthz   (Ctrl-C stops)",
                flush=True,
            )
            await serve(sandbox, newsroom, stop)
    finally:
        await emulator.stop()
    return 0
