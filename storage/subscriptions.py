"""Queries about subscriptions: who waits for a verdict on which claim."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import insert_ignoring_conflict
from storage.models import Reporter, Subscription
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
