"""Data minimisation: of a sender, only the Telegram id and language; of a forward's origin,
a public channel's identity but a private person's nothing beyond "a person"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlmodel import select

from matching import Encoder
from newsroom.indexes import MatchingIndexes
from newsroom.intake import ForwardOrigin, IncomingTip, IntakePolicy, receive_tip
from storage.db import Database
from storage.models import Reporter, Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")

SENT = datetime(2024, 11, 12, 9, 30, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def indexes(database: Database, encoder: Encoder) -> AsyncIterator[MatchingIndexes]:
    built = MatchingIndexes(encoder)
    await built.refresh(database)
    yield built
    built.close()


async def _stored_tip(db: Database, indexes: MatchingIndexes, origin: ForwardOrigin) -> Tip:
    tip = IncomingTip(
        telegram_user_id=7_700_112_233,
        chat_id=7_700_112_233,
        message_id=len(origin.kind),  # one message per kind of origin
        text=f"Forwarded from a {origin.kind}: the bridge collapsed this morning",
        language_code="en",
        forward=origin,
    )
    result = await receive_tip(db, indexes, tip, IntakePolicy())
    async with db.session() as session:
        return await session.get_one(Tip, result.tip_id)


async def test_a_forward_from_a_private_person_keeps_only_that_it_was_a_person(
    database: Database, indexes: MatchingIndexes
) -> None:
    # Even if an adapter handed us more than Telegram's privacy settings let through.
    person = ForwardOrigin(
        kind="user", chat_id=5_550_001, title="Jane Doe", username="jane_doe", message_id=9
    )
    stored = await _stored_tip(database, indexes, person)
    assert stored.forward_origin_type == "user"
    assert (
        stored.forward_chat_id,
        stored.forward_title,
        stored.forward_username,
        stored.forward_message_id,
    ) == (None, None, None, None)


async def test_a_forward_from_a_public_channel_keeps_the_channel(
    database: Database, indexes: MatchingIndexes
) -> None:
    channel = ForwardOrigin(
        kind="channel",
        chat_id=-1_001_234_567_890,
        title="Rumour Mill",
        username="rumour_mill",
        message_id=4711,
        date=SENT,
    )
    stored = await _stored_tip(database, indexes, channel)
    assert (
        stored.forward_origin_type,
        stored.forward_chat_id,
        stored.forward_title,
        stored.forward_username,
        stored.forward_message_id,
    ) == ("channel", -1_001_234_567_890, "Rumour Mill", "rumour_mill", 4711)


async def test_a_sender_is_stored_as_an_id_and_a_language_only(
    database: Database, indexes: MatchingIndexes
) -> None:
    """If someone adds a name, username or phone column, this fails and docs/PRIVACY.md needs
    a line saying why."""
    assert set(Reporter.model_fields) == {
        "id",
        "telegram_user_id",
        "language",
        "first_seen_at",
        "last_seen_at",
        "blocked_bot",
    }
    await _stored_tip(database, indexes, ForwardOrigin(kind="hidden_user"))
    async with database.session() as session:
        reporter = (await session.exec(select(Reporter))).one()
    assert reporter.telegram_user_id == 7_700_112_233
