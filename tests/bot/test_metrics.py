"""/metrics after real traffic: the counters move, and every metric the ops docs use exists.

The traffic goes through `tipline run`'s own ``serve()`` (polling the Bot API emulator): tips
that get a verdict, a "we'll look at it" and a rate limit, a sticker, a verdict notification
slowed by a 429, and one to someone who blocked the bot.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select
from telegram import Bot
from telegram.error import NetworkError

from bot.emulator import BotAPIEmulator
from bot.metrics import MeteredRequest, TiplineMetrics
from bot.runtime import serve
from bot.settings import Settings, load_settings
from matching import Encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IntakePolicy
from storage import outbox, reporters
from storage.db import Database
from storage.models import FactCheck, OutboxMessage, OutboxStatus

ROOT = Path(__file__).resolve().parents[2]
ASYNC = pytest.mark.asyncio(loop_scope="session")

DEBUNKED = (
    "The city council has ordered every bank in the region to freeze savings accounts on "
    "Monday morning"
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture(loop_scope="session")
async def newsroom(database: Database, encoder: Encoder) -> AsyncIterator[Newsroom]:
    async with database.session() as session:
        session.add(
            FactCheck(
                url="https://example.org/checks/bank-freeze",
                claim_reviewed=DEBUNKED,
                headline="No, banks will not freeze savings on Monday",
                publisher="Demo Check (example)",
                rating="false",
                language="en",
            )
        )
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    policy = IntakePolicy(rate_limit_tips=2, rate_limit_window=timedelta(minutes=10))
    yield Newsroom(db=database, indexes=indexes, policy=policy)
    indexes.close()


def _settings(emulator: BotAPIEmulator) -> Settings:
    return load_settings(
        None,
        bot_token=emulator.token,
        telegram_api_url=emulator.base_url,
        telegram_file_url=emulator.base_file_url,
        port=_free_port(),
        mode="polling",
    )


async def _scrape(http: aiohttp.ClientSession, port: int) -> Samples:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        body = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(what)


async def _replied(emulator: BotAPIEmulator, chat_id: int, count: int) -> None:
    async def enough() -> bool:
        return len(emulator.sent_messages(chat_id)) >= count

    await _eventually(enough, f"{count} replies to {chat_id}")


async def _queue_notification(db: Database, chat_id: int) -> None:
    payload = {
        "kind": "verdict",
        "claim_id": 1,
        "language": "en",
        "fact_check": {
            "id": 1,
            "url": "https://example.org/checks/bank-freeze",
            "rating": "false",
            "headline": "No, banks will not freeze savings on Monday",
            "claim_reviewed": DEBUNKED,
        },
    }
    async with db.session() as session:
        await reporters.touch_reporter(session, chat_id)
        await outbox.enqueue_message(
            session, chat_id=chat_id, payload=payload, dedupe_key=f"metrics:{chat_id}"
        )


async def _outbox_status(db: Database, chat_id: int) -> str:
    async with db.session() as session:
        message = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == chat_id))
        ).one()
        return message.status


@ASYNC
async def test_metrics_count_tips_replies_matching_the_outbox_and_telegram_errors(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    settings = _settings(emulator)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, newsroom, stop))
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(60):
            while True:
                assert not running.done(), running.exception()
                try:
                    before = await _scrape(http, settings.port)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)

        sender, sticker_sender, slowed, blocked = 7101, 7102, 7103, 7104
        for number, text in enumerate(
            [DEBUNKED, "A new motorway will be built through the old town park", "And another"],
            start=1,
        ):
            emulator.push_update(emulator.private_message(sender, text))
            await _replied(emulator, sender, number)
        emulator.push_update(emulator.private_message(sticker_sender, kind="sticker"))
        await _replied(emulator, sticker_sender, 1)

        emulator.fail_next(
            "sendMessage",
            error_code=429,
            description="Too Many Requests: retry after 1",
            retry_after=1,
            chat_id=slowed,
        )
        emulator.block(blocked)
        await _queue_notification(newsroom.db, slowed)
        await _queue_notification(newsroom.db, blocked)
        await _replied(emulator, slowed, 1)

        async def settled() -> bool:
            # Telegram taking the slowed message comes before the loop records it as sent.
            return (
                await _outbox_status(newsroom.db, blocked) == OutboxStatus.FAILED
                and await _outbox_status(newsroom.db, slowed) == OutboxStatus.SENT
            )

        await _eventually(settled, "the blocked message failed and the slowed one was sent")

        after = await _scrape(http, settings.port)
    stop.set()
    await asyncio.wait_for(running, 30)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("tipline_tips_received_total") == 3
    assert moved("tipline_replies_total", kind="verdict") == 1
    assert moved("tipline_replies_total", kind="queued") == 1
    assert moved("tipline_replies_total", kind="rate_limited") == 1
    assert moved("tipline_replies_total", kind="unsupported") == 1
    assert moved("tipline_match_duration_seconds_count") == 2  # the rate-limited one skips it
    assert moved("tipline_match_duration_seconds_sum") > 0
    assert moved("tipline_outbox_sent_total") == 1
    assert moved("tipline_outbox_retries_total", reason="rate_limited") == 1
    assert moved("tipline_outbox_failures_total", reason="blocked") == 1
    assert moved("tipline_telegram_api_errors_total", code="429", method="sendMessage") == 1
    assert moved("tipline_telegram_api_errors_total", code="403", method="sendMessage") == 1
    assert _value(after, "tipline_queue_size") == 1  # the motorway claim
    assert _value(after, "tipline_claims", status="answered") == 1
    assert _value(after, "tipline_outbox_messages", status="failed") == 1
    assert _value(after, "tipline_outbox_messages", status="sent") == 1
    assert _value(after, "tipline_index_size", index="fact_checks") == 1
    assert _value(after, "process_resident_memory_bytes") > 0


@ASYNC
async def test_a_failed_connection_is_counted_as_a_network_error_of_its_method() -> None:
    metrics = TiplineMetrics()
    # Nothing listens on port 9 (discard).
    bot = Bot(
        "123456:" + "A" * 35, base_url="http://127.0.0.1:9/bot", request=MeteredRequest(metrics)
    )
    with pytest.raises(NetworkError):
        await bot.get_me()
    samples = {
        s.labels.get("code"): s
        for f in text_string_to_metric_families(metrics.exposition().decode())
        for s in f.samples
        if s.name == "tipline_telegram_api_errors_total"
    }
    assert samples["network"].labels["method"] == "getMe"
    assert samples["network"].value == 1


def _exported_sample_names() -> set[str]:
    """Every sample name the server can export, from the families' declared types."""
    metrics = TiplineMetrics()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for suffix in suffixes[family.type]
    }


def _queries() -> list[str]:
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    docs = (ROOT / "docs" / "DEPLOY.md").read_text()
    queries += re.findall(r"```promql\n(.*?)```", docs, flags=re.DOTALL)
    return queries


def test_every_metric_the_dashboard_and_the_docs_query_is_exported() -> None:
    queries = _queries()
    assert len(queries) >= 8
    used = {name for q in queries for name in re.findall(r"\b(?:tipline|process)_[a-z_]+", q)}
    assert used
    assert used - _exported_sample_names() == set()


def test_the_name_check_above_can_fail() -> None:
    assert "tipline_tips_received_total" in _exported_sample_names()
    assert "tipline_tips_received" not in _exported_sample_names()  # a counter needs _total
    assert "tipline_match_duration_seconds_bucket" in _exported_sample_names()
