"""The scheduled feed sync inside `tipline run`: new articles land, and the open claims they
answer are offered to editors as possible answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from bot.runtime import repeat, start_scheduled_jobs, sync_feeds_forever
from bot.settings import Settings, load_settings
from newsroom.context import Newsroom
from newsroom.fetch import Fetcher
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from newsroom.suggestions import import_and_offer
from storage.models import Claim, FactCheck
from storage.stats import collect_stats

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).with_name("fixtures")
RUTTE_RUMOUR = (
    "NATO-Generalsekretär Mark Rutte hat gedroht, die USA aus der NATO auszuschließen, "
    "falls Trump die Ukraine an Putin übergibt."
)


@dataclass
class NewsroomSite:
    """A newsroom's website on 127.0.0.1: one RSS feed (with an ETag) and its articles."""

    base: str = ""
    feed_requests: list[str | None] = field(default_factory=list)
    feed_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def feed_url(self) -> str:
        return f"{self.base}/feeds/news.rss"


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[NewsroomSite]:
    state = NewsroomSite()
    etag = '"news-v1"'

    def body(name: str) -> bytes:
        return (FIXTURES / name).read_bytes().replace(b"__BASE__", state.base.encode())

    async def feed(request: web.Request) -> web.Response:
        state.feed_requests.append(request.headers.get("If-None-Match"))
        state.feed_arrived.set()
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(
            body=body("feed.rss"), content_type="application/rss+xml", headers={"ETag": etag}
        )

    async def article(request: web.Request) -> web.Response:
        return web.Response(
            body=body(request.match_info["name"]), content_type="text/html", charset="utf-8"
        )

    app = web.Application()
    app.router.add_get("/feeds/news.rss", feed)
    app.router.add_get("/articles/{name}", article)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


def _settings(site: NewsroomSite, **overrides: object) -> Settings:
    # The feed is on 127.0.0.1, which the fetcher refuses unless private URLs are allowed.
    return load_settings(env_file=None, feeds=site.feed_url, allow_private_urls=True, **overrides)


async def _queue_rumour(newsroom: Newsroom) -> int:
    tip = IncomingTip(telegram_user_id=501, chat_id=501, message_id=1, text=RUTTE_RUMOUR)
    result = await receive_tip(newsroom.db, newsroom.indexes, tip, IntakePolicy())
    assert result.kind == "queued"
    assert result.claim_id is not None
    return result.claim_id


async def _until(condition: object, what: str) -> None:
    """Wait for a background job to get somewhere; the deadline only stops a hung test."""
    for _ in range(1000):
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_run_syncs_configured_feeds_and_offers_the_answer_to_the_open_claim(
    newsroom: Newsroom, site: NewsroomSite
) -> None:
    claim_id = await _queue_rumour(newsroom)

    async def offered_to_editors() -> bool:
        async with newsroom.db.session() as session:
            claim = await session.get_one(Claim, claim_id)
            return claim.suggested_fact_check_id is not None

    jobs = start_scheduled_jobs(_settings(site), newsroom)
    try:
        assert {job.get_name() for job in jobs} == {"feed-sync", "retention"}
        await _until(offered_to_editors, "a possible answer after the first feed sync")
        async with newsroom.db.session() as session:
            claim = await session.get_one(Claim, claim_id)
            offered = await session.get(FactCheck, claim.suggested_fact_check_id or 0)
            stats = await collect_stats(session)
    finally:
        await _stop(jobs)
    assert offered is not None
    assert "Rutte" in offered.claim_reviewed
    assert offered.rating == "false"
    assert claim.status == "new"  # offered to an editor, not answered behind their back
    assert stats["fact_checks"] >= 3
    assert stats["feeds_last_success_at"] is not None


async def test_without_feeds_only_retention_is_scheduled(newsroom: Newsroom) -> None:
    jobs = start_scheduled_jobs(load_settings(env_file=None), newsroom)
    try:
        assert [job.get_name() for job in jobs] == ["retention"]
    finally:
        await _stop(jobs)


async def test_feed_sync_repeats_with_a_conditional_get(
    newsroom: Newsroom, site: NewsroomSite
) -> None:
    job = asyncio.create_task(sync_feeds_forever(_settings(site), newsroom, every=0.01))

    async def asked_twice() -> bool:
        return len(site.feed_requests) >= 2

    try:
        await _until(asked_twice, "a second feed sync")
    finally:
        await _stop([job])
    assert site.feed_requests[0] is None
    assert site.feed_requests[1] == '"news-v1"'  # unchanged feeds cost one 304


async def test_a_failing_job_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []
    done = asyncio.Event()

    async def flaky() -> None:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise RuntimeError("database unavailable")
        done.set()

    job = asyncio.create_task(repeat(0.01, flaky, "flaky job"))
    try:
        await asyncio.wait_for(done.wait(), timeout=20)
    finally:
        await _stop([job])
    assert len(attempts) >= 2
    assert "flaky job failed" in caplog.text


async def test_cli_import_path_offers_the_answer_to_the_open_claim(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    """`tipline factchecks import` goes through import_and_offer, like the feed sync."""
    claim_id = await _queue_rumour(newsroom)
    source = tmp_path / "checks.jsonl"
    record = {
        "url": "https://example.org/faktencheck/rutte-nato?utm_source=telegram",
        "claim_reviewed": RUTTE_RUMOUR,
        "rating": "Falsch",
        "language": "de",
    }
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    async with Fetcher() as fetcher:
        first = await import_and_offer(newsroom, [str(source)], fetcher=fetcher)
        again = await import_and_offer(newsroom, [str(source)], fetcher=fetcher)
    async with newsroom.db.session() as session:
        claim = await session.get_one(Claim, claim_id)
    assert (first.report.new, first.suggested) == (1, 1)
    assert (again.report.unchanged, again.suggested) == (1, 0)
    assert claim.suggested_fact_check_id == first.report.fact_check_ids[0]
