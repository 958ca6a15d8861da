"""What a member of the public may ask about themselves: language, and to be forgotten."""

from __future__ import annotations

import logging

from storage.db import Database
from storage.reporters import (
    ForgottenReporter,
    forget_reporter,
    get_reporter,
    set_reporter_language,
    touch_reporter,
)

log = logging.getLogger(__name__)


async def preferred_language(db: Database, telegram_user_id: int) -> str | None:
    """The language this person chose with /language, if they did."""
    async with db.session() as session:
        reporter = await get_reporter(session, telegram_user_id)
        return reporter.language if reporter else None


async def choose_language(db: Database, telegram_user_id: int, language: str) -> None:
    async with db.session() as session:
        reporter = await touch_reporter(session, telegram_user_id)
        await set_reporter_language(session, reporter.id, language)


async def forget(db: Database, telegram_user_id: int) -> ForgottenReporter:
    """Erase everything stored about this person, at once (``/forget``)."""
    async with db.session() as session:
        forgotten = await forget_reporter(session, telegram_user_id)
    log.info(
        "a reporter was forgotten: %d tips, %d subscriptions, %d pending messages",
        forgotten.tips,
        forgotten.subscriptions,
        forgotten.pending_messages,
    )
    return forgotten
