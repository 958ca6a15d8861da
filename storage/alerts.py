"""Queries about the newsroom group's claim alerts: which claims to announce, edit, re-announce."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import insert_for
from storage.models import Claim, ClaimAlert, Tip


async def unannounced_claims(
    session: AsyncSession, *, statuses: Sequence[str], since: datetime, limit: int
) -> list[Claim]:
    """Claims first seen since ``since`` that have no alert yet, oldest first."""
    announced = select(ClaimAlert.claim_id)
    statement = (
        select(Claim)
        .where(
            col(Claim.status).in_(statuses),
            Claim.first_seen_at >= since,
            col(Claim.id).not_in(announced),
        )
        .order_by(col(Claim.first_seen_at), col(Claim.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def reserve_alert(session: AsyncSession, claim: Claim, chat_id: int, at: datetime) -> bool:
    """Claim the right to announce this claim; False if another worker already did."""
    insert = insert_for(session)
    table = ClaimAlert.__table__
    statement = (
        insert(table)
        .values(
            claim_id=claim.id,
            chat_id=chat_id,
            shown_tip_count=claim.tip_count,
            shown_reporter_count=claim.reporter_count,
            shown_status=claim.status,
            announced_at=at,
            edited_at=at,
        )
        .on_conflict_do_nothing(index_elements=["claim_id"])
        .returning(table.c.claim_id)
    )
    return (await session.exec(statement)).scalar_one_or_none() is not None


async def set_alert_message(session: AsyncSession, claim_id: int, message_id: int) -> None:
    await session.exec(
        update(ClaimAlert).where(col(ClaimAlert.claim_id) == claim_id).values(message_id=message_id)
    )


async def drop_alert(session: AsyncSession, claim_id: int) -> None:
    """Forget an alert that could not be sent, so the next round tries again."""
    await session.exec(delete(ClaimAlert).where(col(ClaimAlert.claim_id) == claim_id))


async def get_alert(session: AsyncSession, claim_id: int) -> ClaimAlert | None:
    return await session.get(ClaimAlert, claim_id, populate_existing=True)


async def stale_alerts(
    session: AsyncSession, chat_id: int, *, edited_before: datetime, limit: int
) -> list[tuple[ClaimAlert, Claim]]:
    """Sent alerts whose claim's counts or status changed since they were last edited."""
    statement = (
        select(ClaimAlert, Claim)
        .join(Claim, col(Claim.id) == ClaimAlert.claim_id)
        .where(
            ClaimAlert.chat_id == chat_id,
            col(ClaimAlert.message_id).is_not(None),
            ClaimAlert.edited_at <= edited_before,
            (Claim.tip_count != ClaimAlert.shown_tip_count)
            | (Claim.reporter_count != ClaimAlert.shown_reporter_count)
            | (Claim.status != ClaimAlert.shown_status),
        )
        .order_by(col(ClaimAlert.edited_at))
        .limit(limit)
    )
    return [(alert, claim) for alert, claim in (await session.exec(statement)).all()]


async def reserve_edit(
    session: AsyncSession, alert: ClaimAlert, claim: Claim, at: datetime
) -> bool:
    """Record what the alert will show; False if another worker edited it meanwhile."""
    result = await session.exec(
        update(ClaimAlert)
        .where(
            col(ClaimAlert.claim_id) == alert.claim_id,
            col(ClaimAlert.edited_at) == alert.edited_at,
        )
        .values(
            shown_tip_count=claim.tip_count,
            shown_reporter_count=claim.reporter_count,
            shown_status=claim.status,
            edited_at=at,
        )
    )
    return (result.rowcount or 0) == 1


async def trending_candidates(
    session: AsyncSession, chat_id: int, *, statuses: Sequence[str]
) -> list[tuple[ClaimAlert, Claim]]:
    """Announced open claims not yet re-announced as trending."""
    statement = (
        select(ClaimAlert, Claim)
        .join(Claim, col(Claim.id) == ClaimAlert.claim_id)
        .where(
            ClaimAlert.chat_id == chat_id,
            col(ClaimAlert.message_id).is_not(None),
            col(ClaimAlert.trending_at).is_(None),
            col(Claim.status).in_(statuses),
        )
    )
    return [(alert, claim) for alert, claim in (await session.exec(statement)).all()]


async def reserve_trending(session: AsyncSession, claim_id: int, at: datetime) -> bool:
    """Mark a claim re-announced as trending; False if it already was (once per claim)."""
    result = await session.exec(
        update(ClaimAlert)
        .where(col(ClaimAlert.claim_id) == claim_id, col(ClaimAlert.trending_at).is_(None))
        .values(trending_at=at)
    )
    return (result.rowcount or 0) == 1


async def forward_sources(
    session: AsyncSession, claim_id: int, *, limit: int = 3
) -> list[tuple[str, str | None, str | None, int]]:
    """Where the claim's forwards came from (public chats and channels by name), most first."""
    count = func.count().label("forwards")
    statement = (
        select(Tip.forward_origin_type, Tip.forward_title, Tip.forward_username, count)
        .where(Tip.claim_id == claim_id, col(Tip.forward_origin_type).is_not(None))
        .group_by(Tip.forward_origin_type, Tip.forward_title, Tip.forward_username)
        .order_by(count.desc())
        .limit(limit)
    )
    return [
        (kind, title, username, int(n))
        for kind, title, username, n in (await session.exec(statement)).all()
    ]
