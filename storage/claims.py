"""Queries about claims: clusters of tips, their counters, the newsroom's queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, or_, text, update
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import dialect_of
from storage.models import Claim, ClaimStatus, Editor, Tip
from storage.prepared import Columns, Prepared
from storage.types import utcnow

OPEN_STATUSES = (ClaimStatus.NEW, ClaimStatus.IN_REVIEW)


async def create_claim(session: AsyncSession, **fields: Any) -> Claim:
    claim = Claim(**fields)
    session.add(claim)
    await session.flush()
    return claim


async def get_claim(session: AsyncSession, claim_id: int) -> Claim | None:
    return await session.get(Claim, claim_id)


# What filing a tip asks of a claim it may join. Every forward asks it once or twice: built
# once, on the table, and read as columns rather than loaded as a model (storage._upsert says
# why). storage.tips finds a claim by its tips' text with the same columns.
_claim = Claim.__table__
CLAIM_STATE = tuple(_claim.c[name] for name in ("id", "status", "fact_check_id", "merged_into_id"))
_CLAIM_STATE = Prepared(select_columns(*CLAIM_STATE).where(_claim.c.id == bindparam("claim_id")))


async def claim_state(session: AsyncSession, claim_id: int) -> Columns | None:
    """A claim's id, status, fact-check and what it was merged into, if it exists."""
    return await _CLAIM_STATE.first(session, {"claim_id": claim_id})


# What filing reads back from the claim a tip is counted in: what deciding the answer asks.
COUNTED_CLAIM = tuple(
    _claim.c[name]
    for name in (
        "id",
        "status",
        "fact_check_id",
        "suggested_fact_check_id",
        "tip_count",
        "reporter_count",
        "languages",
    )
)


def _counting_tip() -> Any:
    sent_before = exists().where(
        col(Tip.reporter_id) == bindparam("reporter"),
        col(Tip.claim_id) == bindparam("claim"),
        col(Tip.id) != bindparam("tip"),
    )
    return (
        update(_claim)
        .where(_claim.c.id == bindparam("claim"))
        .values(
            tip_count=_claim.c.tip_count + 1,
            reporter_count=_claim.c.reporter_count + case((sent_before, 0), else_=1),
            last_seen_at=bindparam("at"),
        )
        .returning(*COUNTED_CLAIM)
    )


# Built once: every forward runs it (storage._upsert says why).
_COUNT_TIP = Prepared(_counting_tip())
_ADD_LANGUAGE = Prepared(
    update(_claim).where(_claim.c.id == bindparam("claim")).values(languages=bindparam("languages"))
)
_SUGGEST = Prepared(
    update(_claim)
    .where(_claim.c.id == bindparam("claim"))
    .values(
        suggested_fact_check_id=bindparam("fact_check"),
        suggested_score=bindparam("score"),
        updated_at=bindparam("at"),
    )
)


async def count_tip_in_claim(
    session: AsyncSession,
    claim_id: int,
    *,
    tip_id: int,
    reporter_id: int,
    at: datetime,
    language: str | None,
) -> Columns:
    """Add one tip, and its reporter unless they sent the claim before, to its counters;
    returns the claim's :data:`COUNTED_CLAIM` columns as counted.

    The counters are incremented in SQL, not read-modify-written in Python, so two workers
    counting forwards of the same viral claim at once never lose one; whether the reporter is
    new is asked in the same statement. ``updated_at`` is left alone: it marks changes the
    matching indexes must follow, and a new forward is not one.
    """
    params = {"claim": claim_id, "tip": tip_id, "reporter": reporter_id, "at": at}
    claim = await _COUNT_TIP.one(session, params)
    if language and language != "und" and language not in claim.languages:
        params = {"claim": claim_id, "languages": [*claim.languages, language]}
        await _ADD_LANGUAGE.run(session, params)
    return claim


async def suggest_fact_check(
    session: AsyncSession, claim_id: int, fact_check_id: int, score: float
) -> None:
    """Put a fact-check the matcher found before the editors, for a claim that has none."""
    params = {"claim": claim_id, "fact_check": fact_check_id, "score": score, "at": utcnow()}
    await _SUGGEST.run(session, params)


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


# Any constant will do, as long as nothing else in the database takes the same advisory lock.
_FILING_LOCK_KEY = 0x7469706C696E65  # "tipline"
_FILING_LOCK_POSTGRESQL = Prepared(
    text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_FILING_LOCK_KEY)
)
_FILING_LOCK_SQLITE = Prepared(text("UPDATE claim SET id = id WHERE 1 = 0"))
# OPEN_STATUSES spelled out rather than as IN: a prepared statement takes no expanding list.
_OPEN_AFTER = and_(
    or_(*(_claim.c.status == status for status in OPEN_STATUSES)),
    _claim.c.id > bindparam("after"),
)
# Every filing asks; another worker's new claim is rare, so the claims are loaded only then.
_ANY_OPEN_CLAIM_AFTER = Prepared(select_columns(_claim.c.id).where(_OPEN_AFTER).limit(1))
_OPEN_CLAIMS_AFTER = select(Claim).where(_OPEN_AFTER).order_by(col(Claim.id))


async def lock_claim_filing(session: AsyncSession) -> None:
    """Serialise filing tips under claims across every worker, until this transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: a write that changes nothing takes
    the database's single write lock now rather than at the first real write, which would be
    after this filing read which claims exist.
    """
    postgresql = dialect_of(session) == "postgresql"
    await (_FILING_LOCK_POSTGRESQL if postgresql else _FILING_LOCK_SQLITE).run(session, {})


async def open_claims_after(session: AsyncSession, claim_id: int) -> list[Claim]:
    """Open claims newer than ``claim_id``: those other workers created since we last looked."""
    if await _ANY_OPEN_CLAIM_AFTER.first(session, {"after": claim_id}) is None:
        return []
    return list((await session.exec(_OPEN_CLAIMS_AFTER, params={"after": claim_id})).all())


async def lock_claim(session: AsyncSession, claim_id: int) -> Claim | None:
    """The claim, locked for this transaction on PostgreSQL, so two editors' actions serialise."""
    return await session.get(Claim, claim_id, with_for_update=True, populate_existing=True)


def _like_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def find_claims(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    language: str | None = None,
    assignee_id: int | None = None,
    search: str | None = None,
    has_media: bool | None = None,
    since: datetime | None = None,
    limit: int = 2000,
) -> list[tuple[Claim, str | None, bool]]:
    """Claims matching the desk's filters, most recently seen first, with the assignee's
    username and whether any of their tips carries media."""
    with_media = (
        select(Tip.id)
        .where(col(Tip.claim_id) == Claim.id, col(Tip.media_kind).is_not(None))
        .exists()
    )
    statement = (
        select(Claim, Editor.username, with_media)
        .outerjoin(Editor, col(Editor.id) == Claim.assignee_id)
        .where(col(Claim.status).in_(statuses))
    )
    if language:
        statement = statement.where(Claim.language == language)
    if assignee_id is not None:
        statement = statement.where(Claim.assignee_id == assignee_id)
    if search:
        statement = statement.where(
            col(Claim.canonical_text).ilike(_like_pattern(search), escape="\\")
        )
    if has_media is not None:
        statement = statement.where(with_media if has_media else ~with_media)
    if since is not None:
        statement = statement.where(Claim.last_seen_at >= since)
    statement = statement.order_by(col(Claim.last_seen_at).desc(), col(Claim.id).desc())
    rows = (await session.exec(statement.limit(limit))).all()
    return [(claim, username, bool(media)) for claim, username, media in rows]


async def tips_per_claim_since(
    session: AsyncSession, claim_ids: Sequence[int], since: datetime, until: datetime | None = None
) -> dict[int, int]:
    """How many tips each claim received in a time window: its growth."""
    if not claim_ids:
        return {}
    statement = select(Tip.claim_id, func.count()).where(
        col(Tip.claim_id).in_(claim_ids), Tip.received_at >= since
    )
    if until is not None:
        statement = statement.where(Tip.received_at < until)
    rows = (await session.exec(statement.group_by(Tip.claim_id))).all()
    return {int(claim_id): int(count) for claim_id, count in rows}


async def claims_merged_into(session: AsyncSession, claim_id: int) -> list[int]:
    """Every claim merged into this one, directly or through another merged claim."""
    found: list[int] = []
    frontier = [claim_id]
    while frontier:
        statement = select(Claim.id).where(col(Claim.merged_into_id).in_(frontier))
        frontier = [i for i in (await session.exec(statement)).all() if i not in found]
        found.extend(frontier)
    return found


async def shared_reporters(session: AsyncSession, claim_id: int, other_claim_id: int) -> int:
    """How many reporters sent tips to both claims (counted once when the claims merge)."""
    first = select(Tip.reporter_id).where(
        Tip.claim_id == claim_id, col(Tip.reporter_id).is_not(None)
    )
    statement = select(func.count(func.distinct(Tip.reporter_id))).where(
        Tip.claim_id == other_claim_id, col(Tip.reporter_id).in_(first)
    )
    return int((await session.exec(statement)).one())


async def move_tips(session: AsyncSession, from_claim_id: int, to_claim_id: int) -> int:
    """File every tip of one claim under another; returns how many moved."""
    result = await session.exec(
        update(Tip).where(col(Tip.claim_id) == from_claim_id).values(claim_id=to_claim_id)
    )
    return result.rowcount or 0


async def repoint_merged_claims(
    session: AsyncSession, from_claim_id: int, to_claim_id: int
) -> None:
    """Claims merged into ``from`` now point at ``to``, so merges stay one level deep."""
    await session.exec(
        update(Claim)
        .where(col(Claim.merged_into_id) == from_claim_id)
        .values(merged_into_id=to_claim_id)
    )


async def claim_has_media(session: AsyncSession, claim_id: int) -> bool:
    """Whether any tip of the claim carries a picture, video or file."""
    statement = select(Tip.id).where(Tip.claim_id == claim_id, col(Tip.media_kind).is_not(None))
    return (await session.exec(statement.limit(1))).first() is not None
