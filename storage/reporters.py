"""Queries about reporters: members of the public, known by their Telegram id alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import upsert
from storage.models import (
    InboundUpdate,
    OutboxMessage,
    OutboxStatus,
    Reporter,
    Subscription,
    Tip,
)
from storage.types import utcnow


async def get_reporter(session: AsyncSession, telegram_user_id: int) -> Reporter | None:
    statement = select(Reporter).where(Reporter.telegram_user_id == telegram_user_id)
    return (await session.exec(statement)).first()


async def touch_reporter(session: AsyncSession, telegram_user_id: int) -> Reporter:
    """The reporter with this Telegram id, created on first contact; last-seen is refreshed."""
    now = utcnow()
    return await upsert(
        session,
        Reporter,
        {
            "telegram_user_id": telegram_user_id,
            "first_seen_at": now,
            "last_seen_at": now,
            "blocked_bot": False,
        },
        ["telegram_user_id"],
        ["last_seen_at", "blocked_bot"],
    )


async def set_reporter_language(session: AsyncSession, reporter_id: int, language: str) -> None:
    await session.exec(
        update(Reporter).where(col(Reporter.id) == reporter_id).values(language=language)
    )


async def mark_reporter_blocked(session: AsyncSession, telegram_user_id: int) -> None:
    """Remember that this person blocked the bot, so we stop trying to write to them."""
    await session.exec(
        update(Reporter)
        .where(col(Reporter.telegram_user_id) == telegram_user_id)
        .values(blocked_bot=True)
    )


@dataclass(frozen=True)
class ForgottenReporter:
    """What erasing one reporter removed."""

    tips: int
    subscriptions: int
    pending_messages: int


async def forget_reporter(session: AsyncSession, telegram_user_id: int) -> ForgottenReporter:
    """Erase a reporter, their tips, subscriptions and every message queued or kept for them;
    claims and their counts stay.

    Messages are matched by reporter and by chat: a private chat's id is the person's user id,
    and a message may have been queued without a reporter row (or after retention removed it).
    """
    reporter = await get_reporter(session, telegram_user_id)
    theirs = col(OutboxMessage.chat_id) == telegram_user_id
    if reporter is not None:
        theirs = or_(theirs, col(OutboxMessage.reporter_id) == reporter.id)

    async def count(statement: Any) -> int:
        return (await session.exec(statement)).one()

    pending = await count(
        select(func.count())
        .select_from(OutboxMessage)
        .where(theirs, OutboxMessage.status == OutboxStatus.PENDING)
    )
    await session.exec(delete(OutboxMessage).where(theirs))
    # Answers kept for a webhook redelivery name the chat they went to.
    # Compared as text: the ids exceed PostgreSQL's int4, and SQLite's JSON gives an integer.
    chat = cast(col(InboundUpdate.answer)["chat_id"].as_string(), Text)
    answered_here = chat == str(telegram_user_id)
    await session.exec(delete(InboundUpdate).where(answered_here))
    if reporter is None:
        return ForgottenReporter(tips=0, subscriptions=0, pending_messages=pending)
    forgotten = ForgottenReporter(
        tips=await count(
            select(func.count()).select_from(Tip).where(Tip.reporter_id == reporter.id)
        ),
        subscriptions=await count(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.reporter_id == reporter.id)
        ),
        pending_messages=pending,
    )
    await session.exec(delete(Tip).where(col(Tip.reporter_id) == reporter.id))
    await session.exec(delete(Subscription).where(col(Subscription.reporter_id) == reporter.id))
    await session.exec(delete(Reporter).where(col(Reporter.id) == reporter.id))
    return forgotten
