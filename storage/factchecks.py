"""Queries about published fact-checks and the feeds they come from.

A fact-check is keyed by its canonical URL (tracking parameters removed), so the same article
shared with ``?utm_source=...`` is one row. A content hash of the imported fields tells an
update from a re-import of the same thing: an unchanged record is not written at all, so its
``updated_at`` stays put and the matching indexes (which follow ``updated_at``) do no work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import bindparam, func, or_, text
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from matching.normalize import canonical_url
from storage._upsert import dialect_of, insert_for, insert_ignoring_conflict
from storage.models import FactCheck, Feed, Rating
from storage.prepared import Columns, Prepared
from storage.types import utcnow

__all__ = [
    "IMPORTED_FIELDS",
    "UpsertStatus",
    "cited_fact_check",
    "count_fact_checks",
    "existing_fact_check_urls",
    "fact_check_content_hash",
    "get_fact_check",
    "get_fact_check_by_url",
    "get_feed",
    "list_fact_checks",
    "list_feeds",
    "record_feed_attempt",
    "record_feed_error",
    "record_feed_success",
    "upsert_fact_check",
    "upsert_fact_checks",
]

UpsertStatus = Literal["new", "updated", "unchanged"]

# What an import may set; everything else (ids, vectors, timestamps) is ours.
IMPORTED_FIELDS = (
    "url",
    "claim_reviewed",
    "rating",
    "rating_text",
    "headline",
    "publisher",
    "language",
    "published_at",
    "author",
    "summary",
    "image_url",
    "extracted",
    "needs_review",
)
# Where a record came from is bookkeeping, not content: importing the same article from
# another file must not count as a change.
_BOOKKEEPING_FIELDS = ("source",)
# The matcher encodes these; when they change the stored vector is stale.
_ENCODED_FIELDS = ("claim_reviewed", "headline")
_CHUNK = 500
_ANALYZE_AFTER = 1000


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    fact_check_id: int
    url: str
    status: UpsertStatus


_DEFAULTS: dict[str, Any] = {
    "rating": Rating.OTHER.value,
    "extracted": False,
    "needs_review": False,
}


def _hashable(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def _prepare(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every imported field present (a missing one means empty), the URL canonical."""
    fields = {
        name: record.get(name, _DEFAULTS.get(name))
        for name in (*IMPORTED_FIELDS, *_BOOKKEEPING_FIELDS)
    }
    fields["url"] = canonical_url(str(record["url"]))
    return fields


def fact_check_content_hash(fields: Mapping[str, Any]) -> str:
    """sha256 over the imported fields in a fixed order: equal hash, nothing to update."""
    canonical = {name: _hashable(value) for name, value in _prepare(fields).items()}
    for name in _BOOKKEEPING_FIELDS:
        del canonical[name]
    encoded = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Stored:
    """Just enough of a stored row to decide whether an import changes it."""

    id: int
    content_hash: str | None
    extracted: bool
    needs_review: bool


def _quality(extracted: bool, needs_review: bool) -> int:
    """Markup beats text extraction beats a feed entry awaiting an editor."""
    if needs_review:
        return 0
    return 1 if extracted else 2


async def _stored_by_url(session: AsyncSession, urls: Sequence[str]) -> dict[str, _Stored]:
    # Narrow rows on purpose: reading whole rows made re-imports ten times slower on
    # PostgreSQL (wide tuples to deform), and most of them are unchanged anyway.
    columns = (
        FactCheck.url,
        FactCheck.id,
        FactCheck.content_hash,
        FactCheck.extracted,
        FactCheck.needs_review,
    )
    found: dict[str, _Stored] = {}
    for start in range(0, len(urls), _CHUNK):
        chunk = urls[start : start + _CHUNK]
        rows = await session.exec(select(*columns).where(col(FactCheck.url).in_(chunk)))
        found.update((url, _Stored(*rest)) for url, *rest in rows)
    return found


async def _insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert rows, skipping URLs another worker inserted meanwhile; return url -> new id."""
    insert = insert_for(session)
    table = FactCheck.__table__
    inserted: dict[str, int] = {}
    for start in range(0, len(rows), _CHUNK):
        statement = (
            insert(table)
            .values(list(rows[start : start + _CHUNK]))
            .on_conflict_do_nothing(index_elements=["url"])
            .returning(table.c.id, table.c.url)
        )
        result = await session.exec(statement)
        inserted.update((url, row_id) for row_id, url in result.all())
    return inserted


def _changes(stored: _Stored, fields: Mapping[str, Any], digest: str) -> bool:
    if stored.content_hash == digest:
        return False
    # A bare feed entry must not overwrite a reviewed or marked-up fact-check.
    incoming = _quality(fields["extracted"], fields["needs_review"])
    return incoming >= _quality(stored.extracted, stored.needs_review)


def _apply_update(row: FactCheck, fields: Mapping[str, Any], digest: str) -> None:
    stale_vector = any(getattr(row, name) != fields[name] for name in _ENCODED_FIELDS)
    for name, value in fields.items():
        setattr(row, name, value)
    if stale_vector:
        row.embedding = None
        row.embedding_model = None
    row.content_hash = digest
    row.updated_at = utcnow()


async def upsert_fact_checks(
    session: AsyncSession, records: Sequence[Mapping[str, Any]]
) -> list[UpsertOutcome]:
    """Insert or update many fact-checks by canonical URL, in bulk; one outcome per record.

    Records need ``url`` and ``claim_reviewed``; other keys from :data:`IMPORTED_FIELDS` and
    ``source`` are optional. Two records with the same canonical URL: the later one wins.
    Vectors are never written here, only cleared when the encoded text changes.
    """
    prepared: dict[str, tuple[dict[str, Any], str]] = {}
    keys: list[str] = []
    for record in records:
        fields = _prepare(record)
        prepared[fields["url"]] = (fields, fact_check_content_hash(fields))
        keys.append(fields["url"])
    stored = await _stored_by_url(session, list(prepared))
    now = utcnow()
    fresh = [
        {**fields, "content_hash": digest, "created_at": now, "updated_at": now}
        for url, (fields, digest) in prepared.items()
        if url not in stored
    ]
    inserted = await _insert_new(session, fresh)
    if len(inserted) >= _ANALYZE_AFTER and dialect_of(session) == "postgresql":
        # Fresh statistics now, not when autovacuum gets round to it: without them the next
        # import's URL lookups are planned as sequential scans (4x slower at 10,000 rows).
        await session.exec(text("ANALYZE fact_check"))
    raced = [row["url"] for row in fresh if row["url"] not in inserted]
    if raced:
        stored.update(await _stored_by_url(session, raced))
    outcomes = {url: UpsertOutcome(row_id, url, "new") for url, row_id in inserted.items()}
    changed: dict[int, str] = {}
    for url, (fields, digest) in prepared.items():
        if url in outcomes:
            continue
        if _changes(stored[url], fields, digest):
            changed[stored[url].id] = url
        else:
            outcomes[url] = UpsertOutcome(stored[url].id, url, "unchanged")
    for start in range(0, len(changed), _CHUNK):
        ids = list(changed)[start : start + _CHUNK]
        for row in await session.exec(select(FactCheck).where(col(FactCheck.id).in_(ids))):
            fields, digest = prepared[changed[row.id or 0]]
            _apply_update(row, fields, digest)
            session.add(row)
            outcomes[row.url] = UpsertOutcome(row.id or 0, row.url, "updated")
    await session.flush()
    return [outcomes[key] for key in keys]


async def upsert_fact_check(session: AsyncSession, **fields: Any) -> tuple[FactCheck, UpsertStatus]:
    """Insert or update one fact-check by canonical URL (see :func:`upsert_fact_checks`)."""
    (outcome,) = await upsert_fact_checks(session, [fields])
    fact_check = await session.get_one(FactCheck, outcome.fact_check_id, populate_existing=True)
    return fact_check, outcome.status


async def existing_fact_check_urls(session: AsyncSession, urls: Sequence[str]) -> set[str]:
    """Which of these URLs (canonicalised) are already stored, as canonical URLs."""
    canonical = list(dict.fromkeys(canonical_url(url) for url in urls))
    found: set[str] = set()
    for start in range(0, len(canonical), _CHUNK):
        chunk = canonical[start : start + _CHUNK]
        found.update(await session.exec(select(FactCheck.url).where(col(FactCheck.url).in_(chunk))))
    return found


async def get_fact_check(session: AsyncSession, fact_check_id: int) -> FactCheck | None:
    return await session.get(FactCheck, fact_check_id)


# What a reply cites of a fact-check. Every verdict sent reads it: built once, on the table,
# and read as columns rather than loaded as a model (storage._upsert says why). Labelled, so
# that a query about a claim can read them beside the claim's own (storage.tips).
CITED_FACT_CHECK = tuple(
    FactCheck.__table__.c[name].label(f"cited_{name}")
    for name in (
        "id",
        "url",
        "rating",
        "rating_text",
        "headline",
        "claim_reviewed",
        "publisher",
        "published_at",
    )
)
_CITED = Prepared(
    select_columns(*CITED_FACT_CHECK).where(FactCheck.__table__.c.id == bindparam("fact_check_id"))
)


async def cited_fact_check(session: AsyncSession, fact_check_id: int) -> Columns | None:
    """The :data:`CITED_FACT_CHECK` columns of a fact-check (``intake.VerdictCard``), if it
    exists."""
    return await _CITED.first(session, {"fact_check_id": fact_check_id})


async def get_fact_checks(session: AsyncSession, ids: Sequence[int]) -> list[FactCheck]:
    """The fact-checks with these ids, in id order, read in chunks."""
    found: list[FactCheck] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        found.extend(await session.exec(select(FactCheck).where(col(FactCheck.id).in_(chunk))))
    return sorted(found, key=lambda row: row.id or 0)


async def get_fact_check_by_url(session: AsyncSession, url: str) -> FactCheck | None:
    """The fact-check at this URL, whatever tracking parameters the link carries."""
    statement = select(FactCheck).where(col(FactCheck.url) == canonical_url(url))
    return (await session.exec(statement)).first()


def _search_filter(search: str | None) -> Any:
    if not search:
        return None
    pattern = f"%{search.strip().lower()}%"
    return or_(
        func.lower(FactCheck.claim_reviewed).like(pattern),
        func.lower(FactCheck.headline).like(pattern),
        func.lower(FactCheck.publisher).like(pattern),
        func.lower(FactCheck.url).like(pattern),
    )


async def list_fact_checks(
    session: AsyncSession, *, search: str | None = None, limit: int = 50, offset: int = 0
) -> list[FactCheck]:
    """Fact-checks newest first (by publication, then import), optionally filtered by text."""
    statement = select(FactCheck).order_by(
        col(FactCheck.published_at).desc().nulls_last(), col(FactCheck.id).desc()
    )
    condition = _search_filter(search)
    if condition is not None:
        statement = statement.where(condition)
    return list((await session.exec(statement.limit(limit).offset(offset))).all())


async def count_fact_checks(session: AsyncSession, *, search: str | None = None) -> int:
    statement = select(func.count()).select_from(FactCheck)
    condition = _search_filter(search)
    if condition is not None:
        statement = statement.where(condition)
    return int((await session.exec(statement)).one())


async def get_feed(session: AsyncSession, url: str) -> Feed | None:
    return (await session.exec(select(Feed).where(col(Feed.url) == url))).first()


async def _feed(session: AsyncSession, url: str) -> Feed:
    """The feed's row, created on first sight; race-free when workers sync at once."""
    await insert_ignoring_conflict(session, Feed, {"url": url}, ["url"])
    statement = select(Feed).where(col(Feed.url) == url).execution_options(populate_existing=True)
    return (await session.exec(statement)).one()


async def record_feed_attempt(
    session: AsyncSession, url: str, *, at: datetime | None = None
) -> Feed:
    """Note that we are about to sync this feed (written even if the sync then fails)."""
    feed = await _feed(session, url)
    feed.last_attempt_at = at or utcnow()
    session.add(feed)
    await session.flush()
    return feed


async def record_feed_success(
    session: AsyncSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    at: datetime | None = None,
) -> Feed:
    """The feed synced; keep its validators so the next sync can be a conditional GET."""
    feed = await _feed(session, url)
    feed.last_success_at = at or utcnow()
    feed.last_error = None
    if etag is not None or last_modified is not None:
        feed.etag = etag
        feed.last_modified = last_modified
    session.add(feed)
    await session.flush()
    return feed


async def record_feed_error(
    session: AsyncSession, url: str, error: str, *, at: datetime | None = None
) -> Feed:
    """The feed failed to sync; the reason is shown to editors until the next success."""
    feed = await _feed(session, url)
    feed.last_attempt_at = feed.last_attempt_at or at or utcnow()
    feed.last_error = error
    session.add(feed)
    await session.flush()
    return feed


async def list_feeds(session: AsyncSession) -> list[Feed]:
    return list((await session.exec(select(Feed).order_by(col(Feed.url)))).all())
