"""Queries about claims: clusters of tips, their counters, the newsroom's queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Claim, ClaimStatus
from storage.types import utcnow

OPEN_STATUSES = (ClaimStatus.NEW, ClaimStatus.IN_REVIEW)


async def create_claim(session: AsyncSession, **fields: Any) -> Claim:
    claim = Claim(**fields)
    session.add(claim)
    await session.flush()
    return claim


async def get_claim(session: AsyncSession, claim_id: int) -> Claim | None:
    return await session.get(Claim, claim_id)


async def count_tip_in_claim(
    session: AsyncSession,
    claim_id: int,
    *,
    at: datetime,
    new_reporter: bool,
    language: str | None,
) -> Claim:
    """Add one tip (and maybe one reporter) to a claim's counters.

    The counters are incremented in SQL, not read-modify-written in Python, so two workers
    counting forwards of the same viral claim at once never lose one. ``updated_at`` is left
    alone: it marks changes the matching indexes must follow, and a new forward is not one.
    """
    await session.exec(
        update(Claim)
        .where(col(Claim.id) == claim_id)
        .values(
            tip_count=Claim.tip_count + 1,
            reporter_count=Claim.reporter_count + (1 if new_reporter else 0),
            last_seen_at=at,
        )
    )
    claim = await session.get_one(Claim, claim_id, populate_existing=True)
    if language and language != "und" and language not in claim.languages:
        claim.languages = [*claim.languages, language]
        session.add(claim)
        await session.flush()
    return claim


async def update_claim(session: AsyncSession, claim: Claim, **fields: Any) -> Claim:
    """Change a claim; ``updated_at`` moves so every worker's claim index follows."""
    fields.setdefault("updated_at", utcnow())
    for name, value in fields.items():
        setattr(claim, name, value)
    session.add(claim)
    await session.flush()
    return claim


async def list_claims(
    session: AsyncSession,
    *,
    statuses: Sequence[str] = OPEN_STATUSES,
    language: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Claim]:
    """Claims in the given statuses, highest priority first, then most recent."""
    statement = select(Claim).where(col(Claim.status).in_(statuses))
    if language:
        statement = statement.where(Claim.language == language)
    statement = (
        statement.order_by(col(Claim.priority).desc(), col(Claim.last_seen_at).desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def iter_open_claims(session: AsyncSession, *, batch: int = 1000) -> AsyncIterator[Claim]:
    """Every open claim, in id order and in batches: what the claim index is built from."""
    last_id = 0
    while True:
        statement = (
            select(Claim)
            .where(col(Claim.status).in_(OPEN_STATUSES), col(Claim.id) > last_id)
            .order_by(col(Claim.id))
            .limit(batch)
        )
        rows = (await session.exec(statement)).all()
        if not rows:
            return
        for claim in rows:
            yield claim
        last_id = rows[-1].id or last_id
