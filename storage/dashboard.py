"""Read queries behind the editors' dashboard, plus its few writes (logins, fact-check edits).

Nothing here returns a reporter's Telegram id or a tip's chat id: the dashboard shows what
was forwarded, never who forwarded it, and the safest way to keep it so is not to select it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import dialect_of
from storage.factchecks import fact_check_content_hash
from storage.models import (
    Claim,
    ClaimStatus,
    Editor,
    FactCheck,
    Tip,
)
from storage.types import utcnow

__all__ = [
    "CLAIM_EXPORT_COLUMNS",
    "EditorRow",
    "FactCheckRow",
    "Statistics",
    "claim_languages",
    "edit_fact_check",
    "export_claims",
    "fact_check_claims",
    "fact_check_page",
    "get_editor",
    "list_editors",
    "record_failed_login",
    "record_successful_login",
    "set_editor_access",
    "statistics_report",
]

EDITABLE_FACT_CHECK_FIELDS = (
    "claim_reviewed",
    "headline",
    "publisher",
    "rating",
    "rating_text",
    "language",
    "author",
    "summary",
)
_ENCODED_FIELDS = ("claim_reviewed", "headline")


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def claim_languages(session: AsyncSession) -> list[str]:
    """Languages of claims, for the queue filter's choices."""
    rows = await session.exec(
        select(Claim.language).where(col(Claim.language).is_not(None)).distinct()
    )
    return sorted(language for language in rows.all() if language)


# --- Fact-check library -----------------------------------------------------------------------


@dataclass(frozen=True)
class FactCheckRow:
    """A fact-check with what it did for the newsroom: claims answered, people reached."""

    fact_check: FactCheck
    claims_answered: int
    people_reached: int


async def _reach(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per fact-check: claims it answered and distinct reporters it reached.

    A reporter was reached when their tip got the fact-check as an automatic reply, or when
    their tip belongs to a claim the fact-check answered.
    """
    if not ids:
        return {}
    answered = await session.exec(
        select(Claim.fact_check_id, func.count())
        .where(col(Claim.fact_check_id).in_(ids), Claim.status == ClaimStatus.ANSWERED)
        .group_by(Claim.fact_check_id)
    )
    claims_answered = dict(answered.all())
    answering = aliased(Claim)
    reached_via = func.coalesce(Tip.fact_check_id, answering.fact_check_id)
    reached = await session.exec(
        select(reached_via, func.count(sa.distinct(Tip.reporter_id)))
        .select_from(Tip)
        .outerjoin(answering, answering.id == Tip.claim_id)
        .where(or_(col(Tip.fact_check_id).in_(ids), col(answering.fact_check_id).in_(ids)))
        .group_by(reached_via)
    )
    people = dict(reached.all())
    return {i: (claims_answered.get(i, 0), people.get(i, 0)) for i in ids}


async def fact_check_page(
    session: AsyncSession, search: str | None, *, limit: int = 25, offset: int = 0
) -> tuple[list[FactCheckRow], int]:
    """Fact-checks newest first, optionally searched by text, publisher or URL."""
    condition: Any = sa.true()
    if search:
        pattern = _like(search)
        condition = or_(
            *(
                func.lower(column).like(pattern, escape="\\")
                for column in (
                    FactCheck.claim_reviewed,
                    FactCheck.headline,
                    FactCheck.publisher,
                    FactCheck.url,
                )
            )
        )
    total = (await session.exec(select(func.count(col(FactCheck.id))).where(condition))).one()
    rows = list(
        (
            await session.exec(
                select(FactCheck)
                .where(condition)
                .order_by(col(FactCheck.published_at).desc().nulls_last(), col(FactCheck.id).desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
    )
    reach = await _reach(session, [row.id for row in rows if row.id is not None])
    return [FactCheckRow(row, *reach.get(row.id or 0, (0, 0))) for row in rows], total


async def fact_check_claims(
    session: AsyncSession, fact_check_id: int
) -> tuple[FactCheckRow | None, list[Claim]]:
    """One fact-check with its reach, and the claims it answered."""
    fact_check = await session.get(FactCheck, fact_check_id)
    if fact_check is None:
        return None, []
    reach = await _reach(session, [fact_check_id])
    claims = await session.exec(
        select(Claim).where(Claim.fact_check_id == fact_check_id).order_by(col(Claim.id).desc())
    )
    return FactCheckRow(fact_check, *reach[fact_check_id]), list(claims.all())


async def edit_fact_check(
    session: AsyncSession, fact_check_id: int, changes: dict[str, Any]
) -> FactCheck | None:
    """Apply an editor's correction; a changed text drops the stale vector so it is re-encoded."""
    fact_check = await session.get(FactCheck, fact_check_id)
    if fact_check is None:
        return None
    changes = {k: v for k, v in changes.items() if k in EDITABLE_FACT_CHECK_FIELDS}
    if any(
        getattr(fact_check, name) != changes.get(name)
        for name in _ENCODED_FIELDS
        if name in changes
    ):
        fact_check.embedding = None
        fact_check.embedding_model = None
    for name, value in changes.items():
        setattr(fact_check, name, value)
    fact_check.needs_review = False
    fact_check.content_hash = fact_check_content_hash(fact_check.model_dump())
    fact_check.updated_at = utcnow()
    session.add(fact_check)
    await session.flush()
    return fact_check


# --- Statistics and exports -------------------------------------------------------------------


@dataclass(frozen=True)
class Statistics:
    days: list[date]
    tips_per_day: list[int]
    claims_per_day: list[int]
    answered_per_day: list[int]
    claims_by_status: dict[str, int]
    top_claims: list[Claim]
    languages: list[tuple[str, int]]
    median_hours_to_verdict: float | None
    answered_sample: int


def _day(session: AsyncSession, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, on either dialect."""
    if dialect_of(session) == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


async def _per_day(
    session: AsyncSession, column: Any, since: datetime, *where: Any
) -> dict[date, int]:
    day = _day(session, column)
    rows = await session.exec(
        select(day, func.count()).where(column >= since, *where).group_by(day)
    )
    result: dict[date, int] = {}
    for value, count in rows.all():
        key = value if isinstance(value, date) else date.fromisoformat(str(value))
        result[key] = count
    return result


async def statistics_report(session: AsyncSession, *, days: int = 30) -> Statistics:
    """Counts per day over the last ``days`` days, and the desk's overall figures."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=utcnow().tzinfo)
    tips = await _per_day(session, Tip.received_at, since)
    claims = await _per_day(session, Claim.first_seen_at, since)
    answered = await _per_day(session, Claim.answered_at, since)
    dates = [first + timedelta(days=i) for i in range(days)]
    status_rows = await session.exec(select(Claim.status, func.count()).group_by(Claim.status))
    by_status = {status.value: 0 for status in ClaimStatus}
    by_status.update(dict(status_rows.all()))
    top = await session.exec(
        select(Claim)
        .where(Claim.status != ClaimStatus.MERGED)
        .order_by(col(Claim.reporter_count).desc(), col(Claim.tip_count).desc(), col(Claim.id))
        .limit(10)
    )
    language = func.coalesce(Tip.language, "und")
    languages = await session.exec(
        select(language, func.count()).group_by(language).order_by(func.count().desc()).limit(12)
    )
    durations = await session.exec(
        select(Claim.first_seen_at, Claim.answered_at).where(
            col(Claim.answered_at).is_not(None), Claim.answered_at >= since - timedelta(days=60)
        )
    )
    hours = [
        (answered_at - first_seen).total_seconds() / 3600
        for first_seen, answered_at in durations.all()
        if answered_at is not None
    ]
    return Statistics(
        days=dates,
        tips_per_day=[tips.get(d, 0) for d in dates],
        claims_per_day=[claims.get(d, 0) for d in dates],
        answered_per_day=[answered.get(d, 0) for d in dates],
        claims_by_status=by_status,
        top_claims=list(top.all()),
        languages=[(str(name), count) for name, count in languages.all()],
        median_hours_to_verdict=statistics.median(hours) if hours else None,
        answered_sample=len(hours),
    )


CLAIM_EXPORT_COLUMNS = (
    "id",
    "status",
    "canonical_text",
    "language",
    "languages",
    "tip_count",
    "reporter_count",
    "first_seen_at",
    "last_seen_at",
    "answered_at",
    "assignee",
    "merged_into",
    "fact_check_url",
    "rating",
    "status_reason",
)


async def export_claims(session: AsyncSession) -> list[dict[str, Any]]:
    """Every claim as a flat row for CSV: counts, dates, verdict; no sender anywhere."""
    rows = await session.exec(
        select(Claim, Editor.username, FactCheck.url, FactCheck.rating)
        .outerjoin(Editor, Editor.id == Claim.assignee_id)
        .outerjoin(FactCheck, FactCheck.id == Claim.fact_check_id)
        .order_by(col(Claim.id))
    )
    return [
        {
            "id": claim.id,
            "status": claim.status,
            "canonical_text": claim.canonical_text,
            "language": claim.language or "",
            "languages": " ".join(claim.languages or []),
            "tip_count": claim.tip_count,
            "reporter_count": claim.reporter_count,
            "first_seen_at": claim.first_seen_at.isoformat(),
            "last_seen_at": claim.last_seen_at.isoformat(),
            "answered_at": claim.answered_at.isoformat() if claim.answered_at else "",
            "assignee": assignee or "",
            "merged_into": claim.merged_into_id or "",
            "fact_check_url": url or "",
            "rating": rating or "",
            "status_reason": claim.status_reason or "",
        }
        for claim, assignee, url, rating in rows.all()
    ]


# --- Editors and logins -----------------------------------------------------------------------


@dataclass(frozen=True)
class EditorRow:
    id: int
    username: str
    role: str
    active: bool
    has_password: bool
    telegram_linked: bool
    locked_until: datetime | None
    created_at: datetime


async def get_editor(session: AsyncSession, editor_id: int) -> Editor | None:
    return await session.get(Editor, editor_id)


async def list_editors(session: AsyncSession) -> list[EditorRow]:
    editors = await session.exec(select(Editor).order_by(col(Editor.username)))
    return [
        EditorRow(
            id=editor.id or 0,
            username=editor.username,
            role=editor.role,
            active=editor.active,
            has_password=editor.password_hash is not None,
            telegram_linked=editor.telegram_user_id is not None,
            locked_until=editor.locked_until,
            created_at=editor.created_at,
        )
        for editor in editors.all()
    ]


async def set_editor_access(
    session: AsyncSession,
    editor_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
    unlock: bool = False,
) -> Editor | None:
    editor = await session.get(Editor, editor_id)
    if editor is None:
        return None
    if role is not None:
        editor.role = role
    if active is not None:
        editor.active = active
    if unlock:
        editor.failed_logins = 0
        editor.locked_until = None
    session.add(editor)
    await session.flush()
    return editor


async def record_failed_login(
    session: AsyncSession, editor_id: int, *, limit: int, lock_for: timedelta
) -> Editor:
    """Count a failed password; at ``limit`` failures in a row the account locks for a while.

    The counter is incremented in SQL so parallel guesses against one account all count.
    """
    await session.exec(
        update(Editor)
        .where(col(Editor.id) == editor_id)
        .values(failed_logins=Editor.failed_logins + 1)
    )
    editor = await session.get_one(Editor, editor_id, populate_existing=True)
    if editor.failed_logins >= limit:
        editor.locked_until = utcnow() + lock_for
        session.add(editor)
        await session.flush()
    return editor


async def record_successful_login(session: AsyncSession, editor_id: int) -> None:
    await session.exec(
        update(Editor).where(col(Editor.id) == editor_id).values(failed_logins=0, locked_until=None)
    )
