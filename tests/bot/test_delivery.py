"""The outbox delivery loop against the fake Bot API server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from itertools import pairwise

import pytest
import pytest_asyncio
from sqlmodel import func, select
from telegram import Bot

from bot.delivery import DeliveryLimits, OutboxDelivery, render_message
from bot.emulator import BotAPIEmulator, Call
from storage import outbox, reporters
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, Reporter

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Fast limits for behaviour tests; the real ones are asserted in test_real_limits_are_kept.
FAST = DeliveryLimits(
    messages_per_second=500, seconds_per_chat=0.05, backoff_seconds=0.05, idle_seconds=0.05
)


def _payload(language: str | None = "en") -> dict[str, object]:
    return {
        "kind": "verdict",
        "claim_id": 1,
        "language": language,
        "reply_to_message_id": None,
        "fact_check": {
            "id": 1,
            "url": "https://example.org/fc/banks",
            "rating": "false",
            "rating_text": "False",
            "headline": "No, banks do not close on Monday",
            "claim_reviewed": "Banks close on Monday",
            "publisher": "Demo Check <example>",
            "published_at": "2024-11-12T00:00:00+00:00",
        },
    }


async def _queue(db: Database, chat_ids: Sequence[int], *, tag: str = "v") -> None:
    async with db.session() as session:
        for number, chat_id in enumerate(chat_ids):
            await reporters.touch_reporter(session, chat_id)
            await outbox.enqueue_message(
                session, chat_id=chat_id, payload=_payload(), dedupe_key=f"{tag}:{chat_id}:{number}"
            )


async def _pending(db: Database) -> int:
    async with db.session() as session:
        statement = (
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
        )
        return (await session.exec(statement)).one()


async def _drain(delivery: OutboxDelivery, db: Database, *, within: float = 30.0) -> None:
    """Run the loop until nothing is pending (messages deferred by a 429 included)."""
    async with asyncio.timeout(within):
        while await _pending(db):
            if not await delivery.deliver_due():
                await asyncio.sleep(0.02)


def _sends(emulator: BotAPIEmulator) -> list[Call]:
    return [c for c in emulator.calls if c.method == "sendMessage"]


def assert_within_limits(calls: Sequence[Call], per_second: int, seconds_per_chat: float) -> None:
    """No more than ``per_second`` calls in any one-second window; per chat, calls spaced."""
    times = sorted(call.at for call in calls)
    for first, last in zip(times, times[per_second:], strict=False):
        assert last - first >= 1.0, f"{per_second + 1} messages within {last - first:.3f} s"
    by_chat: dict[int, list[float]] = defaultdict(list)
    for call in calls:
        by_chat[int(call.params["chat_id"])].append(call.at)
    for chat_times in by_chat.values():
        chat_times.sort()
        for earlier, later in pairwise(chat_times):
            assert later - earlier >= seconds_per_chat


@pytest_asyncio.fixture(loop_scope="session")
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(emulator.token, base_url=emulator.base_url) as telegram_bot:
        yield telegram_bot


async def test_real_limits_are_kept(database: Database, emulator: BotAPIEmulator, bot: Bot) -> None:
    # 40 people once each, and one person three times: 25/s overall, 1/s for that one chat.
    await _queue(database, [*range(7000, 7040), 7999, 7999, 7999])
    await _drain(OutboxDelivery(bot, database), database)

    sends = _sends(emulator)
    assert len(sends) == 43
    assert_within_limits(sends, per_second=25, seconds_per_chat=1.0)
    assert Counter(int(c.params["chat_id"]) for c in sends)[7999] == 3


async def test_verdict_is_rendered_at_delivery_in_the_recipients_language(
    database: Database, emulator: BotAPIEmulator, bot: Bot
) -> None:
    async with database.session() as session:
        await reporters.touch_reporter(session, 8001)
        await outbox.enqueue_message(
            session, chat_id=8001, payload=_payload("de"), dedupe_key="de:8001"
        )
    await _drain(OutboxDelivery(bot, database, FAST), database)
    [message] = emulator.sent_messages(8001)
    assert "https://example.org/fc/banks" in message["text_html"]
    assert "Demo Check &lt;example&gt;" in message["text_html"]
    assert message["text"].startswith("Unsere Redaktion hat einen Beitrag geprüft")
    assert render_message(_payload("xx")).text.startswith("Our editors have checked")


async def test_retry_after_pauses_and_the_message_is_sent_later(
    database: Database, emulator: BotAPIEmulator, bot: Bot
) -> None:
    await _queue(database, [8101, 8102, 8103])
    emulator.fail_next(
        "sendMessage",
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        chat_id=8102,
    )
    await _drain(OutboxDelivery(bot, database, FAST), database)

    to_8102 = [c for c in _sends(emulator) if int(c.params["chat_id"]) == 8102]
    assert [c.ok for c in to_8102] == [False, True]
    assert to_8102[1].at - to_8102[0].at >= 1.0
    async with database.session() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert {r.status for r in rows} == {"sent"}
    assert {r.attempts for r in rows} == {1}  # Telegram's "slow down" is not the message's fault


async def test_blocked_sender_is_marked_and_nothing_more_is_written_to_them(
    database: Database, emulator: BotAPIEmulator, bot: Bot
) -> None:
    await _queue(database, [8201, 8202, 8202, 8203])
    emulator.block(8202)
    # Telegram answers slower than the per-chat pace: the 403 must still be known before
    # the second message to the same chat is sent.
    emulator.response_delay = 0.1
    await _drain(OutboxDelivery(bot, database, FAST), database)

    assert [int(c.params["chat_id"]) for c in _sends(emulator)].count(8202) == 1
    assert len(emulator.sent_messages(8201)) == len(emulator.sent_messages(8203)) == 1
    async with database.session() as session:
        blocked = await reporters.get_reporter(session, 8202)
        rows = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == 8202))
        ).all()
    assert blocked is not None
    assert blocked.blocked_bot
    assert sorted(r.status for r in rows) == ["cancelled", "failed"]
    assert any("blocked" in (r.last_error or "") for r in rows)


async def test_network_errors_are_retried_then_given_up_with_the_error_kept(
    database: Database, emulator: BotAPIEmulator, bot: Bot
) -> None:
    await _queue(database, [8301, 8302])
    emulator.fail_next("sendMessage", error_code=502, description="Bad Gateway", chat_id=8301)
    emulator.fail_next(
        "sendMessage", error_code=502, description="Bad Gateway", chat_id=8302, times=10
    )
    limits = DeliveryLimits(
        messages_per_second=500, seconds_per_chat=0.01, backoff_seconds=0.02, max_attempts=3
    )
    await _drain(OutboxDelivery(bot, database, limits), database)

    async with database.session() as session:
        rows = {r.chat_id: r for r in (await session.exec(select(OutboxMessage))).all()}
    assert (rows[8301].status, rows[8301].attempts) == ("sent", 2)
    assert (rows[8302].status, rows[8302].attempts) == ("failed", 3)
    assert "Bad Gateway" in (rows[8302].last_error or "")
    assert len([c for c in _sends(emulator) if int(c.params["chat_id"]) == 8302]) == 3


async def test_bad_request_fails_at_once(
    database: Database, emulator: BotAPIEmulator, bot: Bot
) -> None:
    await _queue(database, [8401])
    emulator.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    await _drain(OutboxDelivery(bot, database, FAST), database)
    async with database.session() as session:
        row = (await session.exec(select(OutboxMessage))).one()
        reporter = (await session.exec(select(Reporter))).one()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "chat not found" in (row.last_error or "").lower()
    assert not reporter.blocked_bot


async def test_two_loops_on_one_database_send_each_message_once(
    database: Database, emulator: BotAPIEmulator
) -> None:
    chats = list(range(9000, 9150))
    await _queue(database, chats)
    # Two workers: each its own engine (connection pool) and its own bot, as two processes.
    other_db = Database(database.url)
    limits = DeliveryLimits(
        messages_per_second=300, seconds_per_chat=0.01, batch_size=10, idle_seconds=0.01
    )
    async with (
        Bot(emulator.token, base_url=emulator.base_url) as first_bot,
        Bot(emulator.token, base_url=emulator.base_url) as second_bot,
    ):
        first = OutboxDelivery(first_bot, database, limits)
        second = OutboxDelivery(second_bot, other_db, limits)
        await asyncio.gather(_drain(first, database), _drain(second, other_db))
    await other_db.dispose()

    sent_to = Counter(int(c.params["chat_id"]) for c in _sends(emulator))
    assert sorted(sent_to) == chats
    assert set(sent_to.values()) == {1}
    async with database.session() as session:
        statuses = Counter(r.status for r in (await session.exec(select(OutboxMessage))).all())
    assert statuses == {"sent": 150}
