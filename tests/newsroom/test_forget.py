"""`/forget`: a member of the public is erased at once, pending notifications included, while
the claims they helped count keep their numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlmodel import SQLModel, func, select

from matching import Encoder
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from newsroom.reporters import forget
from storage import outbox
from storage.db import Database
from storage.models import Claim, OutboxMessage, Reporter, Subscription, Tip
from storage.reporters import ForgottenReporter

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALICE, BOB = 7_700_112_233, 7_700_445_566  # Telegram user ids beyond 2**31, as real ones are
NEWSROOM_GROUP = -1_001_234_567_890
RUMOUR = "All Sparkasse branches close on Monday for two weeks, withdraw your money now!"
OTHER_RUMOUR = (
    "Tap water in Berlin will be switched off for a week from Friday, fill your bathtubs."
)


@pytest_asyncio.fixture(loop_scope="session")
async def indexes(database: Database, encoder: Encoder) -> AsyncIterator[MatchingIndexes]:
    built = MatchingIndexes(encoder)
    await built.refresh(database)
    yield built
    built.close()


async def _send(db: Database, indexes: MatchingIndexes, user: int, message: int, text: str) -> int:
    tip = IncomingTip(telegram_user_id=user, chat_id=user, message_id=message, text=text)
    result = await receive_tip(db, indexes, tip, IntakePolicy())
    assert result.kind == "queued"
    assert result.claim_id is not None
    return result.claim_id


async def _reporter_id(db: Database, user: int) -> int:
    async with db.session() as session:
        reporter = (
            await session.exec(select(Reporter).where(Reporter.telegram_user_id == user))
        ).one()
        assert reporter.id is not None
        return reporter.id


async def _counts(db: Database) -> dict[str, int]:
    models: dict[str, type[SQLModel]] = {
        "reporters": Reporter,
        "tips": Tip,
        "subscriptions": Subscription,
        "outbox": OutboxMessage,
    }
    async with db.session() as session:
        return {
            name: (await session.exec(select(func.count()).select_from(model))).one()
            for name, model in models.items()
        }


async def _queue_messages(db: Database) -> None:
    """Two pending verdicts and one delivered for Alice (one queued by chat only), one pending
    for Bob, and a note to the newsroom group that is nobody's personal data."""
    alice, bob = await _reporter_id(db, ALICE), await _reporter_id(db, BOB)
    async with db.session() as session:
        for key, chat, reporter in [
            ("verdict:1:alice", ALICE, alice),
            ("verdict:2:alice", ALICE, None),
            ("delivered:alice", ALICE, alice),
            ("verdict:1:bob", BOB, bob),
            ("desk:new-claim", NEWSROOM_GROUP, None),
        ]:
            await outbox.enqueue_message(
                session, chat_id=chat, payload={"text": key}, dedupe_key=key, reporter_id=reporter
            )
        delivered = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == "delivered:alice")
            )
        ).one()
        await outbox.mark_sent(session, delivered.id or 0)


async def test_forget_erases_the_sender_and_their_pending_notifications(
    database: Database, indexes: MatchingIndexes
) -> None:
    banks = await _send(database, indexes, ALICE, 1, RUMOUR)
    water = await _send(database, indexes, ALICE, 2, OTHER_RUMOUR)
    assert await _send(database, indexes, BOB, 1, RUMOUR) == banks
    await _queue_messages(database)
    assert await _counts(database) == {"reporters": 2, "tips": 3, "subscriptions": 3, "outbox": 5}

    forgotten = await forget(database, ALICE)

    assert forgotten == ForgottenReporter(tips=2, subscriptions=2, pending_messages=2)
    assert await _counts(database) == {"reporters": 1, "tips": 1, "subscriptions": 1, "outbox": 2}
    async with database.session() as session:
        left = set(await session.exec(select(OutboxMessage.dedupe_key)))
        banks_claim = await session.get_one(Claim, banks)
        water_claim = await session.get_one(Claim, water)
        remaining = (await session.exec(select(Tip))).one()
    assert left == {"verdict:1:bob", "desk:new-claim"}
    assert remaining.chat_id == BOB
    # What circulated, and how widely, is the newsroom's record and stays.
    assert (banks_claim.tip_count, banks_claim.reporter_count) == (2, 2)
    assert (water_claim.tip_count, water_claim.reporter_count) == (1, 1)


async def test_forget_twice_or_for_a_stranger_touches_nobody_else(
    database: Database, indexes: MatchingIndexes
) -> None:
    await _send(database, indexes, ALICE, 1, RUMOUR)
    await _send(database, indexes, BOB, 1, RUMOUR)
    await _queue_messages(database)
    await forget(database, ALICE)
    before = await _counts(database)

    assert await forget(database, ALICE) == ForgottenReporter(0, 0, 0)
    assert await forget(database, 5_550_000_001) == ForgottenReporter(0, 0, 0)
    assert await _counts(database) == before
