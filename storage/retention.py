"""Retention: the SQL that unlinks senders from old tips of closed claims.

Counts on claims (``tip_count``, ``reporter_count``) are columns of their own, so the
newsroom's statistics survive the unlinking untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, or_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Claim,
    ClaimStatus,
    OutboxMessage,
    OutboxStatus,
    Reporter,
    Subscription,
    Tip,
)

__all__ = ["CLOSED_STATUSES", "UnlinkedSenders", "unlink_senders_before"]

CLOSED_STATUSES = (
    ClaimStatus.ANSWERED,
    ClaimStatus.NOT_CHECKABLE,
    ClaimStatus.REJECTED,
    ClaimStatus.MERGED,
)


@dataclass(frozen=True)
class UnlinkedSenders:
    """How many rows one retention pass changed; counts only, never whose."""

    tips: int
    subscriptions: int
    messages: int
    reporters: int


def _closed_claim_ids() -> object:
    return select(Claim.id).where(col(Claim.status).in_(CLOSED_STATUSES))


async def unlink_senders_before(session: AsyncSession, cutoff: datetime) -> UnlinkedSenders:
    """Unlink senders from tips received before ``cutoff`` whose claim is closed (or that never
    joined one), drop their old subscriptions and delivered messages, then drop reporters
    nothing links to any more and who have not written since ``cutoff``.

    A tip's ``chat_id`` is the sender's user id in a private chat, so it goes with
    ``reporter_id``; ``message_id`` alone is meaningless without it and goes too.
    Idempotent: a second pass with the same cutoff changes nothing.
    """
    tips = await session.exec(
        update(Tip)
        .where(
            col(Tip.received_at) < cutoff,
            or_(col(Tip.claim_id).is_(None), col(Tip.claim_id).in_(_closed_claim_ids())),
            or_(col(Tip.reporter_id).is_not(None), col(Tip.chat_id).is_not(None)),
        )
        .values(reporter_id=None, chat_id=None, message_id=None)
    )
    subscriptions = await session.exec(
        delete(Subscription).where(
            col(Subscription.created_at) < cutoff,
            col(Subscription.claim_id).in_(_closed_claim_ids()),
        )
    )
    # Messages to the public (a private chat id is the person's user id) once they are settled;
    # pending ones are still on their way and belong to the delivery loop.
    messages = await session.exec(
        delete(OutboxMessage).where(
            col(OutboxMessage.created_at) < cutoff,
            col(OutboxMessage.status) != OutboxStatus.PENDING,
            or_(col(OutboxMessage.reporter_id).is_not(None), col(OutboxMessage.chat_id) > 0),
        )
    )
    reporters = await session.exec(
        delete(Reporter).where(
            col(Reporter.last_seen_at) < cutoff,
            ~exists().where(col(Tip.reporter_id) == Reporter.id),
            ~exists().where(col(Subscription.reporter_id) == Reporter.id),
            ~exists().where(col(OutboxMessage.reporter_id) == Reporter.id),
        )
    )
    return UnlinkedSenders(
        tips=tips.rowcount,
        subscriptions=subscriptions.rowcount,
        messages=messages.rowcount,
        reporters=reporters.rowcount,
    )
