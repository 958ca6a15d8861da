"""Counts for `tipline stats`, the dashboard and /metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Claim,
    ClaimStatus,
    FactCheck,
    Feed,
    OutboxMessage,
    OutboxStatus,
    Reporter,
    Subscription,
    Tip,
)


async def _count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def _by_status(session: AsyncSession, model: Any, statuses: type[Any]) -> dict[str, int]:
    rows = await session.exec(select(model.status, func.count()).group_by(model.status))
    counts = {status.value: 0 for status in statuses}
    counts.update(dict(rows.all()))
    return counts


async def collect_stats(session: AsyncSession) -> dict[str, Any]:
    """Every count, every status present (zeros included), JSON-ready."""
    last_feed_success = (await session.exec(select(func.max(col(Feed.last_success_at))))).one()
    return {
        "reporters": await _count(session, Reporter),
        "tips": await _count(session, Tip),
        "fact_checks": await _count(session, FactCheck),
        "subscriptions": await _count(session, Subscription),
        "claims": await _by_status(session, Claim, ClaimStatus),
        "outbox": await _by_status(session, OutboxMessage, OutboxStatus),
        "feeds_last_success_at": last_feed_success.isoformat() if last_feed_success else None,
    }
