"""Long polling that loses nothing: the next ``offset`` (Telegram's acknowledgement) is asked
for only after the updates it acknowledges are recorded."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter

from bot.updates import UpdatePipeline, sleep_unless

__all__ = ["poll_updates"]

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


async def poll_updates(
    bot: Bot,
    pipeline: UpdatePipeline,
    stop: asyncio.Event,
    *,
    long_poll_seconds: int = 30,
    allowed_updates: list[str] | None = None,
) -> None:
    """Fetch and record updates until ``stop``; back off while Telegram or the database fails."""
    offset: int | None = None
    fetched: list[dict[str, Any]] = []
    failures = 0
    while not stop.is_set():
        try:
            if not fetched:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=long_poll_seconds,
                    allowed_updates=allowed_updates or Update.ALL_TYPES,
                )
                fetched = [update.to_dict() for update in updates]
            await pipeline.record(fetched)
        except InvalidToken:
            raise
        except RetryAfter as error:
            wait = error.retry_after
            await sleep_unless(stop, wait.total_seconds() if isinstance(wait, timedelta) else wait)
            continue
        except (NetworkError, SQLAlchemyError, OSError) as error:
            failures += 1
            delay = min(0.5 * 2**failures, MAX_BACKOFF_SECONDS)
            log.warning("polling paused %.1f s: %s", delay, type(error).__name__)
            await sleep_unless(stop, delay)
            continue
        failures = 0
        if fetched:
            offset = fetched[-1]["update_id"] + 1
            fetched = []
