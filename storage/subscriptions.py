"""Queries about subscriptions: who waits for a verdict on which claim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import insert_ignoring_conflict
from storage.models import Reporter, Subscription, Tip
from storage.types import utcnow


async def subscribe(session: AsyncSession, reporter_id: int, claim_id: int) -> bool:
    """Subscribe a reporter to a claim; False if they already were."""
    created = await insert_ignoring_conflict(
        session,
        Subscription,
        {"reporter_id": reporter_id, "claim_id": claim_id, "created_at": utcnow()},
        ["reporter_id", "claim_id"],
    )
    return created is not None


async def unsubscribe(session: AsyncSession, reporter_id: int, claim_id: int) -> None:
    await session.exec(
        delete(Subscription).where(
            col(Subscription.reporter_id) == reporter_id, col(Subscription.claim_id) == claim_id
        )
    )


async def is_subscribed(session: AsyncSession, reporter_id: int, claim_id: int) -> bool:
    statement = select(Subscription.id).where(
        Subscription.reporter_id == reporter_id, Subscription.claim_id == claim_id
    )
    return (await session.exec(statement)).first() is not None


async def subscribers(session: AsyncSession, claim_ids: Sequence[int]) -> list[Reporter]:
    """Every reporter subscribed to any of these claims, once each."""
    statement = (
        select(Reporter)
        .join(Subscription, col(Subscription.reporter_id) == Reporter.id)
        .where(col(Subscription.claim_id).in_(claim_ids))
        .distinct()
        .order_by(col(Reporter.id))
    )
    return list((await session.exec(statement)).all())


async def count_subscribers(session: AsyncSession, claim_id: int) -> int:
    statement = (
        select(func.count()).select_from(Subscription).where(Subscription.claim_id == claim_id)
    )
    return (await session.exec(statement)).one()


async def move_subscriptions(session: AsyncSession, from_claim_id: int, to_claim_id: int) -> int:
    """Subscribe everyone waiting on one claim to another (once each); returns how many moved."""
    statement = select(Subscription).where(Subscription.claim_id == from_claim_id)
    moved = 0
    for subscription in (await session.exec(statement)).all():
        created = await insert_ignoring_conflict(
            session,
            Subscription,
            {
                "reporter_id": subscription.reporter_id,
                "claim_id": to_claim_id,
                "created_at": subscription.created_at,
                "notified_at": subscription.notified_at,
            },
            ["reporter_id", "claim_id"],
        )
        moved += created is not None
    await session.exec(delete(Subscription).where(col(Subscription.claim_id) == from_claim_id))
    return moved


@dataclass(frozen=True)
class Recipient:
    """A subscriber to notify: where to write, and in which language if we know it."""

    reporter_id: int
    telegram_user_id: int
    language: str | None
    tip_language: str | None
    last_message_id: int | None
    blocked_bot: bool


async def recipients(session: AsyncSession, claim_ids: Sequence[int]) -> list[Recipient]:
    """Every subscriber of these claims once, with their chosen language and their latest tip
    in these claims (its language, and its message id to reply to)."""
    if not claim_ids:
        return []
    reporters = await subscribers(session, claim_ids)
    statement = (
        select(Tip.reporter_id, Tip.language, Tip.message_id, Tip.chat_id)
        .where(col(Tip.claim_id).in_(claim_ids), col(Tip.reporter_id).is_not(None))
        .order_by(col(Tip.received_at), col(Tip.id))
    )
    latest: dict[int, tuple[str | None, int | None, int | None]] = {}
    for reporter_id, language, message_id, chat_id in (await session.exec(statement)).all():
        latest[reporter_id] = (language, message_id, chat_id)
    found = []
    for reporter in reporters:
        language, message_id, chat_id = latest.get(reporter.id or 0, (None, None, None))
        found.append(
            Recipient(
                reporter_id=reporter.id or 0,
                telegram_user_id=reporter.telegram_user_id,
                language=reporter.language,
                tip_language=language if language != "und" else None,
                # Replying works only in the chat the tip was sent in: the private chat.
                last_message_id=message_id if chat_id == reporter.telegram_user_id else None,
                blocked_bot=reporter.blocked_bot,
            )
        )
    return found


async def mark_notified(
    session: AsyncSession, claim_ids: Sequence[int], reporter_ids: Sequence[int], at: datetime
) -> None:
    if not claim_ids or not reporter_ids:
        return
    await session.exec(
        update(Subscription)
        .where(
            col(Subscription.claim_id).in_(claim_ids),
            col(Subscription.reporter_id).in_(reporter_ids),
        )
        .values(notified_at=at)
    )
