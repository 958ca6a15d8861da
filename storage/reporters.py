"""Queries about reporters: members of the public, known by their Telegram id alone."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, func, literal_column, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import dialect_of, insert_in, upsert
from storage.models import (
    InboundUpdate,
    OutboxMessage,
    OutboxStatus,
    Reporter,
    Subscription,
    Tip,
)
from storage.prepared import Prepared
from storage.types import utcnow


async def get_reporter(session: AsyncSession, telegram_user_id: int) -> Reporter | None:
    statement = select(Reporter).where(Reporter.telegram_user_id == telegram_user_id)
    return (await session.exec(statement)).first()


# What contact with a reporter writes: the row on first contact, these columns after.
_REFRESHED = ("last_seen_at", "blocked_bot")


def _contact(telegram_user_id: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "telegram_user_id": telegram_user_id,
        "first_seen_at": now,
        "last_seen_at": now,
        "blocked_bot": False,
    }


async def touch_reporter(session: AsyncSession, telegram_user_id: int) -> Reporter:
    """The reporter with this Telegram id, created on first contact; last-seen is refreshed."""
    return await upsert(
        session, Reporter, _contact(telegram_user_id), ["telegram_user_id"], _REFRESHED
    )


@dataclass(frozen=True)
class TipSender:
    """A reporter as their new tip finds them: the language they chose, if any, and how many
    tips they sent lately (the rate limit's count)."""

    id: int
    language: str | None
    recent_tips: int


@functools.cache
def _touching(dialect: str) -> Prepared:
    reporter, tip = Reporter.__table__, Tip.__table__
    # The row being inserted or updated, named as SQL knows it in RETURNING: SQLAlchemy would
    # make the subquery read the whole reporter table instead.
    this_reporter = literal_column("reporter.id")
    recent_tips = (
        select(func.count())
        .select_from(tip)
        .where(tip.c.reporter_id == this_reporter, tip.c.received_at >= bindparam("since"))
        .scalar_subquery()
    )
    insert = insert_in(dialect)(reporter)
    touched = insert.on_conflict_do_update(
        index_elements=["telegram_user_id"],
        set_={name: insert.excluded[name] for name in _REFRESHED},
    )
    return Prepared(touched.returning(reporter.c.id, reporter.c.language, recent_tips))


async def touch_tip_sender(
    session: AsyncSession, telegram_user_id: int, *, tips_since: datetime
) -> TipSender:
    """:func:`touch_reporter` and the count of their tips since ``tips_since``, in one
    statement: every forward asks both."""
    values = _contact(telegram_user_id) | {"since": tips_since}
    reporter_id, language, recent_tips = await _touching(dialect_of(session)).one(session, values)
    return TipSender(reporter_id, language, recent_tips)


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
