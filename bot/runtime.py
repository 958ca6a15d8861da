"""`tipline run`: the bot, the index refresher and the HTTP server in one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import numpy as np
from aiohttp import web
from pydantic import SecretStr
from telegram import Update

from bot.app import build_application
from bot.delivery import start_sending
from bot.metrics import TiplineMetrics
from bot.polling import poll_updates
from bot.server import build_web_app
from bot.settings import Settings
from bot.updates import UpdatePipeline
from bot.webhook import add_webhook_route
from handlers.pictures import resume_unread_pictures
from matching import CLAIM_THRESHOLDS, FACT_CHECK_THRESHOLDS, Thresholds, load_encoder
from newsroom.context import Newsroom
from newsroom.fetch import Fetcher
from newsroom.images import PictureReader
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakePolicy
from newsroom.retention import remove_expired_sender_links
from newsroom.suggestions import sync_feeds_and_offer
from storage.db import Database, upgrade_database
from storage.types import utcnow

log = logging.getLogger(__name__)

INDEX_REFRESH_SECONDS = 5.0
RETENTION_EVERY_SECONDS = 24 * 60 * 60.0
# In webhook mode an update whose handling a crash cut short is left to Telegram's
# redelivery (answered in its response) for this long, then handled by the update loop.
WEBHOOK_REDELIVERY_WAIT = timedelta(minutes=10)


def _or(configured: float | None, default: float) -> float:
    return default if configured is None else configured


@contextlib.asynccontextmanager
async def open_newsroom(
    settings: Settings, *, name: str = "the newsroom"
) -> AsyncIterator[Newsroom]:
    """Migrate the database, load the matching indexes; dispose of both on the way out."""
    await upgrade_database(settings.database_url)
    db = Database(settings.database_url)
    indexes = MatchingIndexes(
        load_encoder(),
        own_process=settings.matching_process,
        fact_check_thresholds=Thresholds(
            reply=_or(settings.match_reply_threshold, FACT_CHECK_THRESHOLDS.reply),
            ask=_or(settings.match_ask_threshold, FACT_CHECK_THRESHOLDS.ask),
        ),
        claim_thresholds=Thresholds(
            reply=_or(settings.claim_join_threshold, CLAIM_THRESHOLDS.reply),
            ask=_or(settings.claim_ask_threshold, CLAIM_THRESHOLDS.ask),
        ),
        vector_dtype=np.dtype(settings.vector_dtype).type,
    )
    try:
        await indexes.refresh(db)
        yield Newsroom(
            db=db,
            indexes=indexes,
            policy=IntakePolicy(
                rate_limit_tips=settings.rate_limit_tips,
                rate_limit_window=settings.rate_limit_window,
            ),
            retention_days=settings.retention_days,
            name=name,
            pictures=PictureReader(db, indexes),
        )
    finally:
        indexes.close()
        await db.dispose()


async def _refresh_indexes(newsroom: Newsroom) -> None:
    """Follow what other workers (and the dashboard, and imports) changed in the database."""
    while True:
        await asyncio.sleep(INDEX_REFRESH_SECONDS)
        try:
            await newsroom.indexes.refresh(newsroom.db)
        except Exception:
            log.exception("index refresh failed; retrying in %.0f s", INDEX_REFRESH_SECONDS)


# --- Scheduled jobs: fact-check feeds and retention -------------------------------------------


async def repeat(every: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``job`` now and then every ``every`` seconds until cancelled; a failure is logged
    and retried at the next turn, never fatal to the process."""
    while True:
        try:
            await job()
        except Exception:
            log.exception("%s failed; next attempt in %.0f s", what, every)
        await asyncio.sleep(every)


async def sync_feeds_forever(
    settings: Settings, newsroom: Newsroom, *, every: float | None = None
) -> None:
    """Import new articles of ``TIPLINE_FEEDS`` at start and every FEED_INTERVAL_MINUTES,
    offering each new fact-check to the open claims it answers."""
    async with Fetcher(allow_private=settings.allow_private_urls) as fetcher:

        async def once() -> None:
            outcome = await sync_feeds_and_offer(newsroom, settings.feeds, fetcher=fetcher)
            log.info(
                "feed sync: %s; %d claims got a possible answer",
                outcome.report.summary(),
                outcome.suggested,
            )
            for where, reason in outcome.report.rejected:
                log.warning("feed sync rejected %s: %s", where, reason)

        await repeat(every or settings.feed_interval_minutes * 60.0, once, "feed sync")


async def apply_retention_forever(
    settings: Settings, newsroom: Newsroom, *, every: float = RETENTION_EVERY_SECONDS
) -> None:
    """Unlink senders from old tips of closed claims, at start and then daily."""

    async def once() -> None:
        await remove_expired_sender_links(newsroom.db, retention_days=settings.retention_days)

    await repeat(every, once, "retention")


def start_scheduled_jobs(settings: Settings, newsroom: Newsroom) -> list[asyncio.Task[None]]:
    """The background jobs of `tipline run` (feed sync only when feeds are configured)."""
    jobs = [asyncio.create_task(apply_retention_forever(settings, newsroom), name="retention")]
    if settings.feeds:
        jobs.append(asyncio.create_task(sync_feeds_forever(settings, newsroom), name="feed-sync"))
    return jobs


def stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set ``stop``: a graceful shutdown, not a traceback."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


async def serve(settings: Settings, newsroom: Newsroom, stop: asyncio.Event) -> None:
    """Run the bot and the HTTP server until ``stop`` is set, then shut down cleanly.

    Updates arrive by webhook or by polling and are recorded before Telegram is told it may
    forget them; the update pipeline processes what was recorded. On ``stop`` the process
    stops taking updates, finishes those in flight, and only then closes the database.
    """
    started_at = utcnow()
    # The encoder and langdetect's profiles load on first use: load them now, not while the
    # first tip waits.
    await newsroom.indexes.warm_up()
    # What start-up built (the indexes above all) lives as long as the process. Frozen, it
    # is out of the collector's sight: a full collection had to walk it and took 250-320 ms
    # at 100k fact-checks, stalling every update in flight (docs/BENCHMARKS.md).
    gc.collect()
    gc.freeze()
    metrics = TiplineMetrics()
    application = build_application(settings, newsroom, metrics)
    webhook = settings.mode == "webhook"
    pipeline = UpdatePipeline(
        application,
        newsroom.db,
        leave_to_telegram=WEBHOOK_REDELIVERY_WAIT if webhook else None,
    )
    web_app = build_web_app(newsroom, settings, metrics)
    if webhook:
        add_webhook_route(web_app, pipeline, _secret(settings.webhook_secret))
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    refresher = asyncio.create_task(_refresh_indexes(newsroom), name="index-refresh")
    scheduled = start_scheduled_jobs(settings, newsroom)
    receiving: asyncio.Task[None] | None = None
    sending: list[asyncio.Task[None]] = []
    try:
        async with application:
            await application.start()
            if newsroom.pictures is not None:
                newsroom.pictures.start()
                resumed = await resume_unread_pictures(
                    application.bot, newsroom, received_before=started_at
                )
                if resumed:
                    log.info("reading %d pictures a stopped worker left unread", resumed)
            if webhook:
                await application.bot.set_webhook(
                    settings.webhook_url or "",
                    secret_token=_secret(settings.webhook_secret),
                    allowed_updates=Update.ALL_TYPES,
                    max_connections=settings.webhook_max_connections,
                )
            else:
                await application.bot.delete_webhook()
                receiving = asyncio.create_task(
                    poll_updates(application.bot, pipeline, stop), name="polling"
                )
            processing = asyncio.create_task(pipeline.run(stop), name="updates")
            # Outbox delivery (verdict notifications) and newsroom alerts.
            sending = start_sending(
                application.bot, newsroom.db, settings.newsroom_chat_id, stop, metrics
            )
            await site.start()
            log.info(
                "tip line running as @%s (%s); HTTP on %s:%s",
                application.bot.username,
                settings.mode,
                settings.host,
                settings.port,
            )
            await stop.wait()
            log.info("stopping: no new updates; finishing those in flight")
            if receiving is not None:
                receiving.cancel()
            await site.stop()  # webhook deliveries now fail over to other workers or retry
            await processing
            if newsroom.pictures is not None:
                await newsroom.pictures.stop()  # finishes the pictures queued, within limits
            await application.stop()
    finally:
        for task in (refresher, receiving, *scheduled, *sending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await runner.cleanup()
        gc.unfreeze()


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


async def run(settings: Settings) -> int:
    """`tipline run`."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with open_newsroom(settings) as newsroom:
        await serve(settings, newsroom, stop)
    return 0
