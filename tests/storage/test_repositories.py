"""Every repository function, on SQLite and on PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import (
    claims,
    editors,
    inbox,
    outbox,
    pictures,
    reporters,
    stats,
    subscriptions,
    tips,
)
from storage.db import Database, _Turns
from storage.models import ClaimStatus, EditorRole, FactCheck, InboundUpdate
from storage.types import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _claim(db: Database, **fields: object) -> int:
    async with db.session() as session:
        claim = await claims.create_claim(session, canonical_text="a rumour", **fields)
        assert claim.id is not None
        return claim.id


async def test_reporter_is_created_once_and_refreshed(database: Database) -> None:
    async with database.session() as session:
        first = await reporters.touch_reporter(session, 5_000_000_001)
    async with database.session() as session:
        again = await reporters.touch_reporter(session, 5_000_000_001)
        assert again.id == first.id
        assert again.last_seen_at >= first.last_seen_at
        assert again.telegram_user_id == 5_000_000_001  # ids beyond 32 bits survive


async def test_reporter_language_and_blocked_flag(database: Database) -> None:
    async with database.session() as session:
        reporter = await reporters.touch_reporter(session, 42)
        await reporters.set_reporter_language(session, reporter.id, "uk")
        await reporters.mark_reporter_blocked(session, 42)
    async with database.session() as session:
        stored = await reporters.get_reporter(session, 42)
        assert stored is not None
        assert (stored.language, stored.blocked_bot) == ("uk", True)
        assert await reporters.get_reporter(session, 43) is None
    async with database.session() as session:  # writing again means they unblocked us
        assert (await reporters.touch_reporter(session, 42)).blocked_bot is False


async def test_same_chat_message_twice_is_one_tip(database: Database) -> None:
    async with database.session() as session:
        tip, created = await tips.record_tip(session, chat_id=7, message_id=1, text="hi")
        again, created_again = await tips.record_tip(session, chat_id=7, message_id=1, text="x")
    assert (created, created_again) == (True, False)
    assert again.id == tip.id
    assert again.text == "hi"


async def test_same_update_id_twice_is_one_tip(database: Database) -> None:
    async with database.session() as session:
        first, _ = await tips.record_tip(session, chat_id=7, message_id=1, update_id=99)
        second, created = await tips.record_tip(session, chat_id=7, message_id=2, update_id=99)
    assert created is False
    assert second.id == first.id


async def test_concurrent_deliveries_of_one_update_store_one_tip(database: Database) -> None:
    async def deliver() -> bool:
        async with database.session() as session:
            return (await tips.record_tip(session, chat_id=8, message_id=5, update_id=500))[1]

    created = await asyncio.gather(*(deliver() for _ in range(5)), return_exceptions=True)
    assert [c for c in created if c is True] == [True]
    assert all(c is False or c is True for c in created), created


async def test_tip_update_lookup_and_rate_window(database: Database) -> None:
    claim_id = await _claim(database)
    async with database.session() as session:
        reporter = await reporters.touch_reporter(session, 11)
        tip, _ = await tips.record_tip(session, chat_id=11, message_id=1, reporter_id=reporter.id)
        await tips.update_tip(session, tip, claim_id=claim_id, content_hash="h1", reply_kind="x")
        await tips.record_tip(
            session,
            chat_id=11,
            message_id=2,
            reporter_id=reporter.id,
            received_at=utcnow() - timedelta(hours=2),
        )
    async with database.session() as session:
        stored = await tips.get_tip(session, tip.id)
        assert stored is not None
        assert (stored.claim_id, stored.reply_kind) == (claim_id, "x")
        assert [t.id for t in await tips.tips_of_claims(session, [claim_id])] == [tip.id]
        await tips.record_tip(session, chat_id=12, message_id=1, reporter_id=None)
        await reporters.set_reporter_language(session, reporter.id, "uk")
    since = utcnow() - timedelta(minutes=10)
    async with database.session() as session:
        sender = await reporters.touch_tip_sender(session, 11, tips_since=since)
        assert (sender.id, sender.language, sender.recent_tips) == (reporter.id, "uk", 1)
        earlier = since - timedelta(hours=3)
        assert (await reporters.touch_tip_sender(session, 11, tips_since=earlier)).recent_tips == 2
        newcomer = await reporters.touch_tip_sender(session, 12, tips_since=earlier)
        assert newcomer.id != reporter.id
        assert (newcomer.language, newcomer.recent_tips) == (None, 0)


async def test_claims_are_found_by_text_hash_and_media_with_their_fact_check_not_merged(
    database: Database,
) -> None:
    async with database.session() as session:
        fact_check = FactCheck(
            url="https://example.org/check", claim_reviewed="x", rating="false", publisher="Ex"
        )
        session.add(fact_check)
        await session.flush()
    live = await _claim(database, status=ClaimStatus.ANSWERED, fact_check_id=fact_check.id)
    queued = await _claim(database)
    merged = await _claim(database, status=ClaimStatus.MERGED)
    async with database.session() as session:
        await tips.record_tip(
            session, chat_id=1, message_id=1, claim_id=live, content_hash="h", text="t"
        )
        await tips.record_tip(
            session, chat_id=1, message_id=2, claim_id=live, media_file_unique_id="AgADm"
        )
        await tips.record_tip(session, chat_id=1, message_id=3, claim_id=merged, content_hash="m")
        await tips.record_tip(session, chat_id=1, message_id=4, claim_id=queued, content_hash="q")
    async with database.session() as session:
        by_text = await tips.claim_with_same_text(session, "h")
        by_media = await tips.claim_with_same_media(session, "AgADm")
        unanswered = await tips.claim_with_same_text(session, "q")
        assert by_text is not None
        assert by_media is not None
        assert unanswered is not None
        assert (by_text.id, by_media.id, unanswered.id) == (live, live, queued)
        # With the fact-check the claim cites, so that a repeat needs no look-up of its own.
        cited = (by_media.cited_id, by_media.cited_url, by_media.cited_publisher)
        assert cited == (fact_check.id, "https://example.org/check", "Ex")
        assert (by_text.cited_rating, unanswered.cited_id, unanswered.cited_url) == (
            "false",
            None,
            None,
        )
        assert await tips.claim_with_same_text(session, "m") is None
        assert await tips.claim_with_same_text(session, "nothing") is None


async def test_picture_candidates_are_live_claims_newest_first_marked_when_mostly_text(
    database: Database,
) -> None:
    live, merged = await _claim(database), await _claim(database, status=ClaimStatus.MERGED)
    now = utcnow()
    async with database.session() as session:
        stored = [
            (1, live, "a" * 96, "A screenshot of twenty-five", 3),
            (2, live, "b" * 96, "short", 2),
            (3, live, "c" * 96, None, 1),
            (4, merged, "d" * 96, None, 0),
            (5, live, None, None, 0),
        ]
        ids = []
        for message_id, claim_id, picture, ocr_text, minutes_ago in stored:
            tip, _ = await tips.record_tip(
                session,
                chat_id=1,
                message_id=message_id,
                claim_id=claim_id,
                image_hash=picture,
                ocr_text=ocr_text,
                received_at=now - timedelta(minutes=minutes_ago),
            )
            ids.append(tip.id)
        session.add(FactCheck(url="https://example.org/a", claim_reviewed="x", rating="false"))
        session.add(
            FactCheck(
                url="https://example.org/b", claim_reviewed="y", rating="false", image_hash="e" * 96
            )
        )
    async with database.session() as session:
        found = await pictures.pictures_of_live_claims(session, text_heavy_chars=20)
        assert [tuple(row) for row in found] == [
            (live, "c" * 96, False),
            (live, "b" * 96, False),
            (live, "a" * 96, True),
        ]
        others = await pictures.pictures_of_live_claims(
            session, text_heavy_chars=5, excluding_tip_id=ids[2], limit=1
        )
        assert [tuple(row) for row in others] == [(live, "b" * 96, True)]
        [debunked] = await pictures.fact_check_pictures(session)
        assert (debunked[1], bool(debunked[2])) == ("e" * 96, False)


async def test_the_earlier_reading_of_a_file_is_the_newest_other_tips(database: Database) -> None:
    now = utcnow()
    async with database.session() as session:
        readings = [(1, "a" * 96, "", 3), (2, "b" * 96, None, 2), (3, None, None, 1)]
        ids = []
        for message_id, picture, ocr_text, minutes_ago in readings:
            tip, _ = await tips.record_tip(
                session,
                chat_id=2,
                message_id=message_id,
                media_file_unique_id="AQADviral",
                image_hash=picture,
                ocr_text=ocr_text,
                received_at=now - timedelta(minutes=minutes_ago),
            )
            ids.append(tip.id)
    async with database.session() as session:
        newest = await pictures.earlier_reading(session, "AQADviral", excluding_tip_id=ids[2])
        assert newest == pictures.EarlierReading("b" * 96, None)
        other = await pictures.earlier_reading(session, "AQADviral", excluding_tip_id=ids[1])
        assert other == pictures.EarlierReading("a" * 96, "")
        assert await pictures.earlier_reading(session, "AQADother", excluding_tip_id=0) is None


async def test_a_claims_state_is_what_filing_a_tip_asks_of_it(database: Database) -> None:
    into = await _claim(database)
    merged = await _claim(database, status=ClaimStatus.MERGED, merged_into_id=into)
    async with database.session() as session:
        state = await claims.claim_state(session, merged)
        assert state is not None
        assert (state.id, state.status, state.merged_into_id) == (merged, "merged", into)
        assert state.fact_check_id is None
        assert await claims.claim_state(session, 10_000) is None


async def test_the_same_text_finds_the_claim_of_its_newest_tip(database: Database) -> None:
    older, newer = await _claim(database), await _claim(database)
    now = utcnow()
    async with database.session() as session:
        for message_id, claim_id, minutes_ago in ((1, older, 10), (2, newer, 1), (3, older, 5)):
            await tips.record_tip(
                session,
                chat_id=1,
                message_id=message_id,
                claim_id=claim_id,
                content_hash="h",
                received_at=now - timedelta(minutes=minutes_ago),
            )
    async with database.session() as session:
        found = await tips.claim_with_same_text(session, "h")
        assert found is not None
        assert found.id == newer
        assert found.status == ClaimStatus.NEW
        newest = await claims.get_claim(session, found.id)
        assert newest is not None
        await claims.update_claim(session, newest, status=ClaimStatus.MERGED)
        found = await tips.claim_with_same_text(session, "h")
        assert found is not None
        assert found.id == older


async def test_the_same_post_look_ups_read_the_newest_tip_without_sorting(sqlite_url: str) -> None:
    # A viral rumour has thousands of forwards: sorting them all for each new one grew
    # linearly (7 ms at 20,000 forwards, docs/BENCHMARKS.md); the index holds them in order.
    database = Database(sqlite_url)
    async with database.session() as session:
        connection = await session.connection()
        sqlite = connection.sync_connection.connection.driver_connection._conn  # sqlite3's own
        ran: list[str] = []  # each statement as SQLite ran it, its parameters written in
        sqlite.set_trace_callback(ran.append)
        await tips.claim_with_same_text(session, "h")
        await tips.claim_with_same_media(session, "AgADm")
        sqlite.set_trace_callback(None)
        plans = [
            " / ".join(row[-1] for row in sqlite.execute(f"EXPLAIN QUERY PLAN {statement}"))
            for statement in ran
            if statement.startswith("SELECT")  # not the PRAGMAs around it
        ]
    await database.dispose()
    assert len(plans) == 2
    assert "ix_tip_content_hash_received" in plans[0]
    assert "ix_tip_media_received" in plans[1]
    assert not any("TEMP B-TREE" in plan for plan in plans), plans


async def test_claim_counters_survive_concurrent_forwards(database: Database) -> None:
    claim_id = await _claim(database, language="de")

    async def forward(n: int, language: str) -> None:
        async with database.session() as session:
            await claims.count_tip_in_claim(
                session, claim_id, tip_id=n, reporter_id=n, at=utcnow(), language=language
            )

    languages = ["de", "ru", "en", "de", "und"]
    await asyncio.gather(*(forward(n, lang) for n, lang in enumerate(languages, 1)))
    async with database.session() as session:
        claim = await claims.get_claim(session, claim_id)
        assert claim is not None
        assert (claim.tip_count, claim.reporter_count) == (5, 5)
        assert "und" not in claim.languages


async def test_a_reporter_who_sent_a_claim_before_is_counted_once(database: Database) -> None:
    claim_id = await _claim(database)
    async with database.session() as session:
        reporter = await reporters.touch_reporter(session, 4242)
        first, _ = await tips.record_tip(
            session, chat_id=4242, message_id=1, reporter_id=reporter.id, claim_id=claim_id
        )
        again, _ = await tips.record_tip(
            session, chat_id=4242, message_id=2, reporter_id=reporter.id
        )
    async with database.session() as session:
        counted = await claims.count_tip_in_claim(
            session, claim_id, tip_id=first.id, reporter_id=reporter.id, at=utcnow(), language=None
        )
        assert (counted.tip_count, counted.reporter_count) == (1, 1)
        counted = await claims.count_tip_in_claim(
            session, claim_id, tip_id=again.id, reporter_id=reporter.id, at=utcnow(), language=None
        )
        assert (counted.tip_count, counted.reporter_count) == (2, 1)


async def test_queue_orders_by_priority_and_filters(database: Database) -> None:
    low = await _claim(database, priority=1.0, language="de")
    high = await _claim(database, priority=9.0, language="en")
    await _claim(database, priority=99.0, status=ClaimStatus.ANSWERED)
    async with database.session() as session:
        queue = await claims.list_claims(session)
        assert [c.id for c in queue] == [high, low]
        assert [c.id for c in await claims.list_claims(session, language="de")] == [low]
        answered = await claims.list_claims(session, statuses=[ClaimStatus.ANSWERED])
        assert len(answered) == 1
        claim = await claims.get_claim(session, low)
        assert claim is not None
        await claims.update_claim(session, claim, status=ClaimStatus.REJECTED)
    async with database.session() as session:
        assert [c.id async for c in claims.iter_open_claims(session, batch=1)] == [high]


async def test_subscriptions_are_idempotent(database: Database) -> None:
    claim_id = await _claim(database)
    other = await _claim(database)
    async with database.session() as session:
        alice = await reporters.touch_reporter(session, 1)
        bob = await reporters.touch_reporter(session, 2)
        assert await subscriptions.subscribe(session, alice.id, claim_id) is True
        assert await subscriptions.subscribe(session, alice.id, claim_id) is False
        await subscriptions.subscribe(session, bob.id, other)
        await subscriptions.subscribe(session, alice.id, other)
    async with database.session() as session:
        assert await subscriptions.is_subscribed(session, alice.id, claim_id)
        assert not await subscriptions.is_subscribed(session, bob.id, claim_id)
        assert await subscriptions.count_subscribers(session, other) == 2
        both = await subscriptions.subscribers(session, [claim_id, other])
        assert [r.telegram_user_id for r in both] == [1, 2]


async def test_forget_removes_the_reporter_and_only_their_rows(database: Database) -> None:
    claim_id = await _claim(database)
    async with database.session() as session:
        alice = await reporters.touch_reporter(session, 1)
        bob = await reporters.touch_reporter(session, 2)
        for reporter in (alice, bob):
            await tips.record_tip(
                session,
                chat_id=reporter.telegram_user_id,
                message_id=1,
                reporter_id=reporter.id,
                claim_id=claim_id,
            )
            await subscriptions.subscribe(session, reporter.id, claim_id)
            await outbox.enqueue_message(
                session,
                chat_id=reporter.telegram_user_id,
                payload={"text": "verdict"},
                dedupe_key=f"verdict:{claim_id}:{reporter.id}",
                reporter_id=reporter.id,
            )
        # Answers kept for webhook redeliveries: to Alice, to Bob, and an update without one.
        for update_id, chat_id in ((11, 1), (12, 2), (13, None), (14, 7_700_112_233)):
            await inbox.record_updates(session, [{"update_id": update_id}])
            answer = {"method": "sendMessage", "chat_id": chat_id} if chat_id else None
            await inbox.mark_updates_processed(session, [update_id], answer=answer)
    async with database.session() as session:
        forgotten = await reporters.forget_reporter(session, 1)
        assert (forgotten.tips, forgotten.subscriptions, forgotten.pending_messages) == (1, 1, 1)
        kept = (await session.exec(select(InboundUpdate.update_id))).all()
        assert sorted(kept) == [12, 13, 14]
    async with database.session() as session:
        counts = await stats.collect_stats(session)
        assert await reporters.get_reporter(session, 1) is None
        assert await claims.get_claim(session, claim_id) is not None
    assert (counts["reporters"], counts["tips"], counts["subscriptions"]) == (1, 1, 1)
    assert counts["outbox"]["pending"] == 1
    async with database.session() as session:
        assert (await reporters.forget_reporter(session, 1)).tips == 0


async def test_outbox_dedupes_and_moves_through_states(database: Database) -> None:
    async with database.session() as session:
        assert await outbox.enqueue_message(session, chat_id=1, payload={}, dedupe_key="k1")
        assert not await outbox.enqueue_message(session, chat_id=1, payload={}, dedupe_key="k1")
        await outbox.enqueue_message(session, chat_id=2, payload={"text": "b"}, dedupe_key="k2")
        await outbox.enqueue_message(session, chat_id=3, payload={"text": "c"}, dedupe_key="k3")
    async with database.session() as session:
        due = await outbox.due_messages(session)
        assert [m.dedupe_key for m in due] == ["k1", "k2", "k3"]
        await outbox.mark_sent(session, due[0].id)
        await outbox.mark_retry(
            session, due[1].id, error="429", next_attempt_at=utcnow() + timedelta(minutes=5)
        )
        await outbox.mark_failed(session, due[2].id, error="Forbidden: bot was blocked")
    async with database.session() as session:
        assert await outbox.due_messages(session) == []
        later = await outbox.due_messages(session, now=utcnow() + timedelta(minutes=6))
        assert [(m.dedupe_key, m.attempts, m.last_error) for m in later] == [("k2", 1, "429")]
        counts = (await stats.collect_stats(session))["outbox"]
    assert counts == {"pending": 1, "sent": 1, "failed": 1, "cancelled": 0}


async def test_editors_are_unique_and_found_by_name_or_telegram_id(database: Database) -> None:
    async with database.session() as session:
        editor = await editors.add_editor(
            session, username="anna", password_hash="x", telegram_user_id=77
        )
        assert editor.role == EditorRole.EDITOR
    async with database.session() as session:
        with pytest.raises(editors.EditorExistsError):
            await editors.add_editor(session, username="anna", password_hash=None)
    async with database.session() as session:
        with pytest.raises(editors.EditorExistsError):
            await editors.add_editor(
                session, username="ben", password_hash=None, telegram_user_id=77
            )
    async with database.session() as session:
        found = await editors.get_editor_by_username(session, "anna")
        assert found is not None
        assert found.id == editor.id
        by_telegram = await editors.get_editor_by_telegram_id(session, 77)
        assert by_telegram is not None
        assert by_telegram.id == editor.id
        assert await editors.get_editor_by_telegram_id(session, 78) is None


async def test_audit_trail_keeps_order(database: Database) -> None:
    claim_id = await _claim(database)
    async with database.session() as session:
        for action in ("assign", "reject", "reopen"):
            await editors.record_audit_event(
                session, actor="tg:77", action=action, source="telegram", claim_id=claim_id
            )
    async with database.session() as session:
        trail = await editors.audit_trail(session, claim_id)
    assert [e.action for e in trail] == ["assign", "reject", "reopen"]


async def test_stats_list_every_status_with_zeros(database: Database) -> None:
    await _claim(database)
    async with database.session() as session:
        counts = await stats.collect_stats(session)
    assert counts["claims"] == {
        "new": 1,
        "in_review": 0,
        "answered": 0,
        "not_checkable": 0,
        "rejected": 0,
        "merged": 0,
    }
    assert counts["tips"] == 0
    assert counts["feeds_last_success_at"] is None


async def test_transactions_that_read_then_write_at_the_same_moment_all_commit(
    database: Database,
) -> None:
    # On SQLite, Database queues transactions on an asyncio lock; none may be lost or fail.
    async def sign_up(user_id: int) -> None:
        async with database.session() as session:
            await stats.collect_stats(session)  # a read first, as intake does
            await asyncio.sleep(0.01)  # let the others read too
            await reporters.touch_reporter(session, user_id)

    await asyncio.gather(*(sign_up(5_000_000_100 + n) for n in range(10)))
    async with database.session() as session:
        assert (await stats.collect_stats(session))["reporters"] == 10


async def test_a_session_opened_inside_another_by_the_same_task_does_not_wait_for_it(
    database: Database,
) -> None:
    async with database.session() as outer:
        await reporters.touch_reporter(outer, 5_000_000_200)
        async with asyncio.timeout(10), database.session() as inner:  # not queued behind outer
            assert (await stats.collect_stats(inner))["tips"] == 0


async def test_an_urgent_transaction_goes_before_those_waiting(sqlite_url: str) -> None:
    # The record that an answer went out must not queue behind a burst (SQLite, one writer).
    database = Database(sqlite_url)
    order: list[str] = []
    held = asyncio.Event()

    async def transaction(name: str, *, urgent: bool = False) -> None:
        async with database.session(urgent=urgent) as session:
            order.append(name)
            if name == "first":
                held.set()
                await asyncio.sleep(0.05)  # the others queue meanwhile
            await stats.collect_stats(session)

    first = asyncio.create_task(transaction("first"))
    await held.wait()
    queued = [asyncio.create_task(transaction(f"tip {n}")) for n in range(3)]
    await asyncio.sleep(0)
    urgent = asyncio.create_task(transaction("reply sent", urgent=True))
    await asyncio.gather(first, *queued, urgent)
    await database.dispose()
    assert order == ["first", "reply sent", "tip 0", "tip 1", "tip 2"]


async def test_a_waiter_that_gives_up_never_keeps_the_turn() -> None:
    turns = _Turns()
    await turns.acquire(urgent=False)
    waiting = asyncio.create_task(turns.acquire(urgent=False))
    given_up = asyncio.create_task(turns.acquire(urgent=True))
    await asyncio.sleep(0)
    waiting.cancel()  # gives up while still waiting
    await asyncio.gather(waiting, return_exceptions=True)
    turns.release()  # the turn goes to the urgent waiter...
    given_up.cancel()  # ...which gives up before it could use it
    await asyncio.gather(given_up, return_exceptions=True)
    async with asyncio.timeout(1):
        await turns.acquire(urgent=False)  # the turn was passed on, not lost
    late = asyncio.create_task(turns.acquire(urgent=True))
    await asyncio.sleep(0)
    late.cancel()
    turns.release()  # before the cancelled waiter has run again
    [outcome] = await asyncio.gather(late, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError)
    async with asyncio.timeout(1):
        await turns.acquire(urgent=False)
