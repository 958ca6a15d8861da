"""Retention: after TIPLINE_RETENTION_DAYS, senders are unlinked from tips of closed claims,
claims keep their counts, and nothing that leaves the database names a sender."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlmodel import SQLModel, col, func, select

from matching import Encoder
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from newsroom.retention import REDELIVERY_HORIZON, remove_expired_sender_links
from storage import claims, inbox, outbox
from storage.db import Database
from storage.models import (
    Claim,
    ClaimStatus,
    InboundUpdate,
    OutboxMessage,
    Reporter,
    Subscription,
    Tip,
)
from storage.stats import collect_stats
from storage.types import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALICE, BOB, CAROL, DAN = 7_700_112_233, 7_700_445_566, 7_700_778_899, 7_701_001_002
NEWSROOM_GROUP = -1_001_234_567_890
BANKS = "All Sparkasse branches close on Monday for two weeks, withdraw your money now!"
WATER = "Tap water in Berlin will be switched off for a week from Friday, fill your bathtubs."
BRIDGE = "The Köhlbrand bridge in Hamburg collapsed this morning, dozens of cars in the water."
DAYS = 90
# Everything below happens "now"; the retention pass runs DAYS + 1 days later.
LATER = timedelta(days=DAYS + 1)


@pytest_asyncio.fixture(loop_scope="session")
async def indexes(database: Database, encoder: Encoder) -> AsyncIterator[MatchingIndexes]:
    built = MatchingIndexes(encoder)
    await built.refresh(database)
    yield built
    built.close()


async def _send(
    db: Database,
    indexes: MatchingIndexes,
    user: int,
    message: int,
    text: str,
    *,
    later: timedelta = timedelta(0),
) -> int:
    tip = IncomingTip(
        telegram_user_id=user,
        chat_id=user,
        message_id=message,
        text=text,
        received_at=utcnow() + later,
    )
    result = await receive_tip(db, indexes, tip, IntakePolicy())
    assert result.claim_id is not None
    return result.claim_id


async def _close(db: Database, claim_id: int, status: ClaimStatus) -> None:
    async with db.session() as session:
        await claims.update_claim(session, await session.get_one(Claim, claim_id), status=status)


async def _counts(db: Database) -> dict[str, int]:
    models: dict[str, type[SQLModel]] = {
        "reporters": Reporter,
        "tips": Tip,
        "subscriptions": Subscription,
        "outbox": OutboxMessage,
    }
    async with db.session() as session:
        counts = {
            name: (await session.exec(select(func.count()).select_from(model))).one()
            for name, model in models.items()
        }
        counts["linked_tips"] = (
            await session.exec(
                select(func.count()).select_from(Tip).where(col(Tip.reporter_id).is_not(None))
            )
        ).one()
    return counts


async def _newsroom_with_history(db: Database, indexes: MatchingIndexes) -> dict[str, int]:
    """Alice and Bob sent the bank rumour (answered; Alice again, recently), Carol the water
    rumour (still open), Dan the bridge rumour (rejected). Alice got her verdict, Bob's is
    still on its way, and the desk got a note."""
    banks = await _send(db, indexes, ALICE, 1, BANKS)
    assert await _send(db, indexes, BOB, 1, BANKS) == banks
    water = await _send(db, indexes, CAROL, 1, WATER)
    bridge = await _send(db, indexes, DAN, 1, BRIDGE)
    assert await _send(db, indexes, ALICE, 2, BANKS, later=LATER + timedelta(days=1)) == banks
    await _close(db, banks, ClaimStatus.ANSWERED)
    await _close(db, bridge, ClaimStatus.REJECTED)
    async with db.session() as session:
        ids = {row.telegram_user_id: row.id for row in (await session.exec(select(Reporter))).all()}
        for key, chat, reporter in [
            ("verdict:alice", ALICE, ids[ALICE]),
            ("verdict:bob", BOB, ids[BOB]),
            ("desk:note", NEWSROOM_GROUP, None),
        ]:
            await outbox.enqueue_message(
                session, chat_id=chat, payload={"k": key}, dedupe_key=key, reporter_id=reporter
            )
        for key in ("verdict:alice", "desk:note"):
            message = (
                await session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
            ).one()
            await outbox.mark_sent(session, message.id or 0)
    return {"banks": banks, "water": water, "bridge": bridge}


async def test_retention_unlinks_senders_of_closed_claims_and_keeps_claim_statistics(
    database: Database, indexes: MatchingIndexes
) -> None:
    claim_ids = await _newsroom_with_history(database, indexes)
    before = await _counts(database)
    assert before == {
        "reporters": 4,
        "tips": 5,
        "subscriptions": 4,
        "outbox": 3,
        "linked_tips": 5,
    }

    report = await remove_expired_sender_links(database, retention_days=DAYS, now=utcnow() + LATER)

    assert (
        report.tips_unlinked,
        report.subscriptions_removed,
        report.messages_removed,
        report.reporters_removed,
    ) == (3, 3, 1, 1)
    assert await _counts(database) == {
        "reporters": 3,  # Dan: nothing links to him any more
        "tips": 5,  # tips stay, anonymous
        "subscriptions": 1,  # Carol still waits for the open water claim
        "outbox": 2,  # Bob's verdict is still on its way; the desk's note is no one's
        "linked_tips": 2,  # Carol's (open claim) and Alice's recent one
    }
    async with database.session() as session:
        anonymous = (await session.exec(select(Tip).where(col(Tip.reporter_id).is_(None)))).all()
        banks = await session.get_one(Claim, claim_ids["banks"])
        bridge = await session.get_one(Claim, claim_ids["bridge"])
    assert {(tip.chat_id, tip.message_id) for tip in anonymous} == {(None, None)}
    assert {tip.text for tip in anonymous} == {BANKS, BRIDGE}
    assert (banks.tip_count, banks.reporter_count) == (3, 2)
    assert (bridge.tip_count, bridge.reporter_count) == (1, 1)


async def test_retention_within_the_period_and_a_second_pass_change_nothing(
    database: Database, indexes: MatchingIndexes
) -> None:
    await _newsroom_with_history(database, indexes)
    before = await _counts(database)
    early = await remove_expired_sender_links(database, retention_days=DAYS)
    assert (early.tips_unlinked, early.subscriptions_removed, early.reporters_removed) == (0, 0, 0)
    assert await _counts(database) == before

    await remove_expired_sender_links(database, retention_days=DAYS, now=utcnow() + LATER)
    after_first = await _counts(database)
    again = await remove_expired_sender_links(database, retention_days=DAYS, now=utcnow() + LATER)
    assert (again.tips_unlinked, again.subscriptions_removed, again.messages_removed) == (0, 0, 0)
    assert await _counts(database) == after_first


async def test_retention_logs_counts_and_never_an_id(
    database: Database, indexes: MatchingIndexes, caplog: pytest.LogCaptureFixture
) -> None:
    await _newsroom_with_history(database, indexes)
    caplog.set_level("INFO", logger="newsroom.retention")
    await remove_expired_sender_links(database, retention_days=DAYS, now=utcnow() + LATER)
    retention_lines = [r.getMessage() for r in caplog.records if r.name == "newsroom.retention"]
    assert retention_lines == [
        "retention (90 days): 3 tips unlinked from their senders, 3 subscriptions, "
        "1 delivered messages and 1 inactive reporters removed; 0 processed updates forgotten"
    ]
    for user in (ALICE, BOB, CAROL, DAN):
        assert str(user) not in caplog.text


async def test_stats_export_names_no_sender(database: Database, indexes: MatchingIndexes) -> None:
    await _newsroom_with_history(database, indexes)
    async with database.session() as session:
        exported = json.dumps(await collect_stats(session))
    assert exported.count('"reporters": 4') == 1
    for user in (ALICE, BOB, CAROL, DAN):
        assert str(user) not in exported
    for text in (BANKS, WATER, BRIDGE):
        assert text not in exported


async def test_processed_updates_and_their_answers_go_after_the_redelivery_horizon(
    database: Database,
) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [{"update_id": n} for n in (1, 2)])
        answer = {"method": "sendMessage", "chat_id": ALICE, "text": "Thank you!"}
        await inbox.mark_updates_processed(session, [1], answer=answer)
    soon = await remove_expired_sender_links(database, retention_days=DAYS)
    later = utcnow() + REDELIVERY_HORIZON + timedelta(minutes=1)
    report = await remove_expired_sender_links(database, retention_days=DAYS, now=later)
    assert (soon.updates_forgotten, report.updates_forgotten) == (0, 1)
    async with database.session() as session:
        assert (await session.exec(select(InboundUpdate.update_id))).all() == [2]  # pending
