"""Importing fact-checks from files, URLs and feeds into both databases: all or nothing per
source, idempotent, and safe against hostile servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from sqlmodel import col, func, select

import newsroom.factchecks as importer
from matching.normalize import canonical_url
from newsroom.factchecks import (
    FactCheckRecord,
    ImportReport,
    import_records,
    import_sources,
    load_demo_fact_checks,
    sync_feeds,
)
from newsroom.fetch import Fetcher
from storage import factchecks as repository
from storage.db import Database
from storage.models import FactCheck, Feed, Rating

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).with_name("fixtures")
FILES = [
    "claimreview_article.html",
    "claimreview_graph.html",
    "two_claimreviews.html",
    "plain_text_article.html",
    "claimreview.json",
    "factchecktools.json",
    "factchecks.jsonl",
    "factchecks.csv",
]


class FactCheckSite:
    """A local newsroom website: fixture articles and feeds, plus hostile pages."""

    def __init__(self) -> None:
        self.base = ""
        self.hits: list[str] = []
        self.feed_etag = '"feed-v1"'


def _fixture(site: FactCheckSite, name: str) -> bytes:
    return (FIXTURES / name).read_bytes().replace(b"__BASE__", site.base.encode())


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[FactCheckSite]:
    state = FactCheckSite()

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        state.hits.append(request.path)
        return await handler(request)

    async def article(request: web.Request) -> web.Response:
        return web.Response(
            body=_fixture(state, request.match_info["name"]),
            content_type="text/html",
            charset="utf-8",
        )

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == state.feed_etag:
            return web.Response(status=304)
        kind = "application/atom+xml" if request.match_info["name"].endswith("atom") else None
        return web.Response(
            body=_fixture(state, request.match_info["name"]),
            content_type=kind or "application/rss+xml",
            headers={"ETag": state.feed_etag},
        )

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        try:
            for _ in range(50):  # 50 MB, generated on the fly
                await response.write(b"<p>" + b"x" * (1024 * 1024 - 3))
        except ConnectionError:
            pass
        return response

    async def to_metadata(_request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def to_private(_request: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.1.2.3/internal/feed.rss")

    async def gone(_request: web.Request) -> web.Response:
        return web.Response(status=410, reason="Gone")

    app = web.Application(middlewares=[count])
    app.router.add_get("/articles/{name}", article)
    app.router.add_get("/feeds/{name}", feed)
    app.router.add_get("/huge", huge)
    app.router.add_get("/redirect/metadata", to_metadata)
    app.router.add_get("/redirect/private", to_private)
    app.router.add_get("/gone", gone)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(allowed_addresses=["127.0.0.1"]) as local_only:
        yield local_only


async def _count(db: Database) -> int:
    async with db.session() as session:
        return await repository.count_fact_checks(session)


async def _rows(db: Database) -> dict[str, FactCheck]:
    async with db.session() as session:
        return {row.url: row for row in await session.exec(select(FactCheck))}


def _sources() -> list[str]:
    return [str(FIXTURES / name) for name in FILES]


async def test_every_file_format_imports_and_bad_records_are_reported(
    database: Database, fetcher: Fetcher
) -> None:
    report = await import_sources(database, _sources(), fetcher=fetcher)
    # article 1 + graph 1 + roundup 2 + plain text 1 + JSON-LD 1 + tools 2 + JSONL 3 + CSV 2
    assert (report.new, report.updated, report.unchanged) == (13, 0, 0)
    assert await _count(database) == 13
    assert len(report.fact_check_ids) == 13

    def reasons(name: str) -> list[str]:
        return [reason for where, reason in report.rejected if name in where]

    assert reasons("factchecks.jsonl")[0] == "missing url"
    assert reasons("factchecks.jsonl")[1].startswith("invalid JSON")
    assert reasons("factchecks.jsonl")[2].startswith("published_at is not an ISO 8601 date")
    assert reasons("factchecktools.json") == ["missing url"]
    assert reasons("factchecks.csv") == ["missing claim_reviewed"]
    assert len(report.rejected) == 5
    rows = await _rows(database)
    rutte = rows[
        canonical_url("https://example.org/faktencheck/2024/11/12/rutte-nato-ausschluss-usa/")
    ]
    assert (rutte.rating, rutte.rating_text, rutte.language) == (Rating.FALSE, "Falsch", "de")
    assert rutte.source == str(FIXTURES / "claimreview_article.html")
    unknown = rows[canonical_url("https://example.org/faktencheck/evakuierung")]
    assert (unknown.rating, unknown.rating_text) == (Rating.OTHER, "Zweifelhaft, wir prüfen weiter")
    assert (
        rows[canonical_url("https://example.com/faktencheck/rutte-drohung-nato/")].extracted is True
    )
    assert report.summary() == (
        f"fact-checks: 13 new, 0 updated, 0 unchanged, {len(report.rejected)} rejected"
    )


async def test_importing_the_same_files_twice_changes_nothing(
    database: Database, fetcher: Fetcher
) -> None:
    await import_sources(database, _sources(), fetcher=fetcher)
    before = {url: row.updated_at for url, row in (await _rows(database)).items()}
    again = await import_sources(database, _sources(), fetcher=fetcher)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 13)
    assert again.fact_check_ids == []
    after = {url: row.updated_at for url, row in (await _rows(database)).items()}
    assert after == before


async def test_same_article_with_tracking_parameters_is_the_same_row(
    database: Database, fetcher: Fetcher, tmp_path: Path
) -> None:
    line = (
        '{"url": "https://example.org/fact-check/free-mobile-data%s", '
        '"claim_reviewed": "The government is giving everyone 50 GB of free mobile data.", '
        '"rating": "False"}\n'
    )
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(line % "")
    second.write_text(line % "?utm_source=x&utm_medium=telegram")
    report = await import_sources(database, [str(first), str(second)], fetcher=fetcher)
    assert (report.new, report.unchanged) == (1, 1)
    assert await _count(database) == 1


async def test_changed_verdict_is_an_update_listed_for_matching(
    database: Database, fetcher: Fetcher, tmp_path: Path
) -> None:
    source = tmp_path / "checks.jsonl"
    line = '{"url": "https://example.org/c/1", "claim_reviewed": "A claim.", "rating": "%s"}\n'
    source.write_text(line % "Unproven")
    first = await import_sources(database, [str(source)], fetcher=fetcher)
    source.write_text(line % "False")
    second = await import_sources(database, [str(source)], fetcher=fetcher)
    assert (second.new, second.updated) == (0, 1)
    assert second.fact_check_ids == first.fact_check_ids
    assert (await _rows(database))[canonical_url("https://example.org/c/1")].rating == Rating.FALSE


async def test_unreadable_sources_are_rejected_whole_and_write_nothing(
    database: Database, fetcher: Fetcher, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just some words about a rumour\n")
    report = await import_sources(
        database,
        [
            str(FIXTURES / "broken.json"),
            str(FIXTURES / "entity_bomb.rss"),
            str(text),
            str(tmp_path / "missing.jsonl"),
            "ftp://example.org/feed.xml",
            "file:///etc/passwd",
        ],
        fetcher=fetcher,
    )
    assert report.all_rejected
    reasons = [reason for _, reason in report.rejected]
    assert reasons[0].startswith("invalid JSON")
    assert "DTDForbidden" in reasons[1]
    assert reasons[2].startswith("unrecognised format")
    assert reasons[3].startswith("cannot read file")
    assert all("only files and http(s) URLs" in reason for reason in reasons[4:])
    assert await _count(database) == 0


async def test_a_failure_while_writing_leaves_nothing_half_written(
    database: Database, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_sources(database, [str(FIXTURES / "claimreview.json")], fetcher=fetcher)
    before = await _rows(database)
    real_upsert = repository.upsert_fact_checks

    async def write_then_fail(session: Any, records: Any) -> Any:
        await real_upsert(session, records)  # the rows are in the transaction...
        raise RuntimeError("database connection lost")  # ...which must now roll back

    monkeypatch.setattr(repository, "upsert_fact_checks", write_then_fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        await import_sources(database, [str(FIXTURES / "factchecks.jsonl")], fetcher=fetcher)
    after = await _rows(database)
    assert after.keys() == before.keys()


async def test_urls_are_fetched_and_hostile_ones_rejected(
    database: Database, fetcher: Fetcher, site: FactCheckSite
) -> None:
    report = await import_sources(
        database,
        [
            f"{site.base}/articles/claimreview_article.html",
            f"{site.base}/articles/plain_text_article.html",
            f"{site.base}/huge",
            f"{site.base}/redirect/metadata",
            f"{site.base}/redirect/private",
            "http://10.0.0.1/feed.rss",
        ],
        fetcher=fetcher,
    )
    assert report.new == 2
    reasons = dict(report.rejected)
    assert "larger than 5,242,880 bytes" in reasons[f"{site.base}/huge"]
    assert "169.254.169.254" in reasons[f"{site.base}/redirect/metadata"]
    assert "10.1.2.3" in reasons[f"{site.base}/redirect/private"]
    assert "non-public address" in reasons["http://10.0.0.1/feed.rss"]
    rows = await _rows(database)
    # A fetched page's own address comes first for plain-text articles.
    assert f"{site.base}/articles/plain_text_article.html" in rows
    assert await _count(database) == 2


async def test_feed_import_reads_each_article_and_falls_back_for_the_editor(
    database: Database, fetcher: Fetcher, site: FactCheckSite
) -> None:
    report = await import_sources(database, [f"{site.base}/feeds/feed.rss"], fetcher=fetcher)
    assert report.new == 3
    assert report.rejected == [
        (
            f"{site.base}/redirect/metadata",
            "refused 'http://169.254.169.254/latest/meta-data/': 169.254.169.254 resolves "
            "to a non-public address (169.254.169.254)",
        )
    ]
    rows = await _rows(database)
    # Served from 127.0.0.1 but naming example.org: kept, but an editor must confirm it.
    marked = rows[
        canonical_url("https://example.org/faktencheck/2024/11/12/rutte-nato-ausschluss-usa/")
    ]
    assert (marked.extracted, marked.needs_review, marked.rating) == (False, True, Rating.FALSE)
    plain = rows[canonical_url(f"{site.base}/articles/plain_text_article.html")]
    assert (plain.extracted, plain.needs_review, plain.rating) == (True, False, Rating.FALSE)
    bare = rows[canonical_url(f"{site.base}/articles/no_markup_article.html")]
    assert (bare.needs_review, bare.rating) == (True, Rating.OTHER)
    assert bare.claim_reviewed == "Brückensperrung: Was bisher bekannt ist"
    assert bare.summary == "Die Stadt kündigt Reparaturen an. Wir prüfen die Angaben."
    assert (bare.publisher, bare.language) == ("Beispiel-Faktencheck", "de")


async def test_a_page_speaks_only_for_its_own_site(
    database: Database, fetcher: Fetcher, site: FactCheckSite
) -> None:
    own = await import_sources(
        database, [f"{site.base}/articles/own_site_claimreview.html"], fetcher=fetcher
    )
    assert own.new == 1
    rows = await _rows(database)
    stored = rows[canonical_url(f"{site.base}/articles/own_site_claimreview.html")]
    assert (stored.needs_review, stored.rating, stored.language) == (False, Rating.FALSE, "uk")

    article = FIXTURES / "claimreview_article.html"
    await import_sources(database, [str(article)], fetcher=fetcher)
    foreign = await import_sources(
        database, [f"{site.base}/articles/claimreview_article.html"], fetcher=fetcher
    )
    assert (foreign.new, foreign.updated, foreign.unchanged) == (0, 0, 1)
    rutte = (await _rows(database))[
        canonical_url("https://example.org/faktencheck/2024/11/12/rutte-nato-ausschluss-usa/")
    ]
    assert (rutte.needs_review, rutte.source) == (False, str(article))


async def test_a_50_mb_article_in_a_feed_is_rejected_and_the_rest_lands(
    database: Database, site: FactCheckSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = importer.FeedDocument(
        title="Beispiel",
        language="de",
        entries=[
            importer.FeedEntry(f"{site.base}/huge", "Riesig", None, None, None),
            importer.FeedEntry(
                f"{site.base}/articles/claimreview_graph.html", "Foto", None, None, None
            ),
        ],
    )
    async with Fetcher(allowed_addresses=["127.0.0.1"], max_bytes=1024 * 1024) as small:
        parsed, skipped = await importer._feed_records(feed, small, "feed", skip=frozenset())
    assert skipped == 0
    assert [record.url for _, record in parsed.records] == [
        canonical_url("https://example.net/pruefung/foto-demonstration/")
    ]
    assert "larger than 1,048,576 bytes" in parsed.rejected[0][1]


async def test_feed_sync_records_success_and_uses_conditional_get(
    database: Database, fetcher: Fetcher, site: FactCheckSite
) -> None:
    feed_url = f"{site.base}/feeds/feed.rss"
    first = await sync_feeds(database, [feed_url], fetcher=fetcher)
    assert (first.new, len(first.rejected)) == (3, 1)  # the metadata redirect is refused
    async with database.session() as session:
        (feed,) = await repository.list_feeds(session)
    assert (feed.url, feed.etag, feed.last_error) == (feed_url, '"feed-v1"', None)
    assert feed.last_success_at is not None

    site.hits.clear()
    unchanged = await sync_feeds(database, [feed_url], fetcher=fetcher)
    assert (unchanged.new, unchanged.updated, unchanged.unchanged) == (0, 0, 0)
    assert site.hits == ["/feeds/feed.rss"]  # 304: no article fetched

    site.feed_etag = '"feed-v2"'
    site.hits.clear()
    try:
        changed = await sync_feeds(database, [feed_url], fetcher=fetcher)
    finally:
        site.feed_etag = '"feed-v1"'
    assert (changed.new, changed.updated, changed.unchanged) == (0, 0, 3)
    # Articles stored under their own link are not fetched again; a ClaimReview that names
    # another URL than the feed's link cannot be recognised before fetching.
    assert "/articles/plain_text_article.html" not in site.hits
    assert "/articles/no_markup_article.html" not in site.hits
    assert "/articles/claimreview_article.html" in site.hits
    async with database.session() as session:
        refreshed = await repository.get_feed(session, feed_url)
    assert refreshed is not None
    assert refreshed.etag == '"feed-v2"'


async def test_feed_errors_are_recorded_on_the_feed(
    database: Database, fetcher: Fetcher, site: FactCheckSite
) -> None:
    gone, hostile = f"{site.base}/gone", f"{site.base}/redirect/private"
    report = await sync_feeds(database, [gone, hostile], fetcher=fetcher)
    assert report.all_rejected
    async with database.session() as session:
        feeds = {feed.url: feed for feed in await repository.list_feeds(session)}
        succeeded = await session.exec(
            select(func.count()).select_from(Feed).where(col(Feed.last_success_at).is_not(None))
        )
        assert succeeded.one() == 0
    assert "HTTP 410" in (feeds[gone].last_error or "")
    assert "10.1.2.3" in (feeds[hostile].last_error or "")
    assert feeds[gone].last_attempt_at is not None
    assert await _count(database) == 0


async def test_demo_fact_checks_load_once(database: Database) -> None:
    report = await load_demo_fact_checks(database)
    assert (report.new, report.rejected) == (13, [])
    again = await load_demo_fact_checks(database)
    assert (again.new, again.unchanged) == (0, 13)
    rows = await _rows(database)
    assert all(url.startswith("https://example.org/demo/") for url in rows)
    assert all("(example)" in (row.publisher or "") for row in rows.values())
    rutte = next(row for row in rows.values() if "Rutte" in row.claim_reviewed)
    assert (rutte.language, rutte.rating, rutte.rating_text) == ("de", Rating.FALSE, "Falsch")
    assert rutte.published_at is not None
    assert rutte.published_at.date().isoformat() == "2024-11-12"
    assert "die USA aus der NATO auszuschließen" in rutte.claim_reviewed
    assert {row.language for row in rows.values()} >= {
        "de",
        "en",
        "ru",
        "uk",
        "ar",
        "es",
        "tr",
        "fr",
    }
    assert {row.rating for row in rows.values()} >= {
        Rating.FALSE,
        Rating.MISLEADING,
        Rating.MISSING_CONTEXT,
        Rating.SATIRE,
        Rating.TRUE,
    }


async def test_import_records_tags_the_source_and_rejects_duplicates(database: Database) -> None:
    record = FactCheckRecord(
        url="https://example.org/c/dup", claim_reviewed="A claim.", rating=Rating.FALSE
    )
    report = await import_records(database, [record, record], source="dashboard")
    assert (report.new, len(report.rejected)) == (1, 1)
    assert "same URL" in report.rejected[0][1]
    assert (await _rows(database))[canonical_url("https://example.org/c/dup")].source == "dashboard"


async def test_report_summary_and_all_rejected() -> None:
    report = ImportReport(new=2, updated=1, unchanged=3, rejected=[("x", "missing url")])
    assert report.summary() == "fact-checks: 2 new, 1 updated, 3 unchanged, 1 rejected"
    assert not report.all_rejected
    assert ImportReport(rejected=[("x", "y")]).all_rejected
    assert not ImportReport().all_rejected
