"""Intake and the matching indexes as plain domain functions, on both databases."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import event
from sqlmodel import select

from matching import Encoder
from newsroom.context import Newsroom
from newsroom.factchecks import FactCheckRecord, import_records
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from newsroom.suggestions import suggest_answers
from storage import claims
from storage.db import Database
from storage.models import Claim, ClaimStatus, FactCheck, Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")

BANKS = "All Sparkasse branches close on Monday for two weeks, withdraw your money now!"
BANKS_DE = "Ab Montag schließen alle Sparkassen für zwei Wochen, hebt jetzt euer Geld ab!"


class CountingEncoder:
    """The real encoder, noting every text it is asked to encode."""

    def __init__(self, encoder: Encoder) -> None:
        self.name, self.dim, self._encoder = encoder.name, encoder.dim, encoder
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded.extend(texts)
        return self._encoder.encode(texts)


def _tip(user_id: int, text: str, message_id: int = 1, **extra: object) -> IncomingTip:
    return IncomingTip(
        telegram_user_id=user_id, chat_id=user_id, message_id=message_id, text=text, **extra
    )


async def test_a_second_worker_sees_claims_the_first_created(
    database: Database, encoder: Encoder
) -> None:
    first, second = MatchingIndexes(encoder), MatchingIndexes(encoder)
    await first.refresh(database)
    await second.refresh(database)
    created = await receive_tip(database, first, _tip(1, BANKS), IntakePolicy())
    await second.refresh(database)
    joined = await receive_tip(database, second, _tip(2, BANKS_DE), IntakePolicy())
    assert joined.claim_id == created.claim_id
    assert joined.other_senders == 1
    async with database.session() as session:
        claim = (await session.exec(select(Claim))).one()
    assert claim.embedding is not None
    assert claim.embedding_model == encoder.name
    first.close()
    second.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_new_rumour_and_its_rewording_at_once_make_one_claim(
    database: Database, encoder: Encoder, workers: int
) -> None:
    # Two workers: two indexes, neither knowing the other's claims until it files. One: the
    # rewording is matched before the claim the other forward founds is indexed.
    indexes = [MatchingIndexes(encoder) for _ in range(workers)]
    for worker in indexes:
        await worker.refresh(database)
    results = await asyncio.gather(
        *(
            receive_tip(database, indexes[n % workers], _tip(10 + n, text), IntakePolicy())
            for n, text in enumerate((BANKS, BANKS_DE))
        )
    )
    assert results[0].claim_id == results[1].claim_id
    assert {r.kind for r in results} == {"queued"}
    async with database.session() as session:
        claim = (await session.exec(select(Claim))).one()
    assert (claim.tip_count, claim.reporter_count) == (2, 2)
    for worker in indexes:
        worker.close()


async def test_a_rewording_joins_its_claim_while_a_filing_holds_the_lock(
    database: Database, encoder: Encoder
) -> None:
    """Only founding a claim waits for the filing lock; a tip matched to a claim joins it."""
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    founded = await receive_tip(database, indexes, _tip(1, BANKS), IntakePolicy())
    rewording = "All Sparkasse branches will close on Monday for two weeks, withdraw money now!"
    async with indexes.filing_lock:  # another tip being filed
        joined = await asyncio.wait_for(
            receive_tip(database, indexes, _tip(2, rewording), IntakePolicy()), timeout=30
        )
        waiting = asyncio.ensure_future(
            receive_tip(database, indexes, _tip(3, "Cats may vote in the election"), IntakePolicy())
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()
    new = await waiting
    assert joined.claim_id == founded.claim_id
    assert new.claim_id not in (None, founded.claim_id)
    async with database.session() as session:
        counted = await session.get_one(Claim, founded.claim_id)
    assert (counted.tip_count, counted.reporter_count) == (2, 2)
    indexes.close()


async def test_a_restarted_worker_loads_stored_vectors_without_re_encoding(
    database: Database, encoder: Encoder
) -> None:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    await receive_tip(database, indexes, _tip(1, BANKS), IntakePolicy())
    indexes.close()

    counting = CountingEncoder(encoder)
    restarted = MatchingIndexes(counting)  # type: ignore[arg-type]
    await restarted.refresh(database)
    assert (await restarted.sizes())[1] == 1
    assert counting.encoded == []
    restarted.close()


async def test_an_imported_fact_check_is_offered_for_a_matching_open_claim(
    database: Database, encoder: Encoder
) -> None:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    newsroom = Newsroom(db=database, indexes=indexes)
    queued = await receive_tip(database, indexes, _tip(1, BANKS_DE), IntakePolicy())
    assert queued.kind == "queued"
    report = await import_records(
        database,
        [
            FactCheckRecord(
                url="https://example.org/check/sparkasse",
                claim_reviewed=BANKS_DE,
                rating="false",
                rating_text="Falsch",
                language="de",
            )
        ],
        source="test",
    )
    await indexes.refresh(database)
    assert await suggest_answers(newsroom, report.fact_check_ids) == 1
    async with database.session() as session:
        claim = await session.get_one(Claim, queued.claim_id)
    assert claim.suggested_fact_check_id == report.fact_check_ids[0]
    assert claim.status == "new"  # an editor confirms; nothing is answered behind their back
    indexes.close()


async def test_a_repeat_of_an_answered_rumour_gets_the_verdict_without_being_encoded(
    database: Database, encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    indexes = MatchingIndexes(counting)  # type: ignore[arg-type]
    await indexes.refresh(database)
    await import_records(
        database,
        [
            FactCheckRecord(
                url="https://example.org/check/banks", claim_reviewed=BANKS, rating="false"
            )
        ],
        source="test",
    )
    first = await receive_tip(database, indexes, _tip(1, BANKS), IntakePolicy())
    async with database.session() as session:
        claim = await session.get_one(Claim, first.claim_id)
        fact_check = (await session.exec(select(FactCheck))).one()
        claim.status, claim.fact_check_id = ClaimStatus.ANSWERED, fact_check.id
        session.add(claim)
    counting.encoded.clear()

    repeat = await receive_tip(database, indexes, _tip(2, f"  {BANKS.upper()} "), IntakePolicy())
    assert repeat.kind == "verdict"
    assert (repeat.claim_id, repeat.other_senders) == (first.claim_id, 1)
    assert repeat.fact_check is not None
    assert repeat.fact_check.url == "https://example.org/check/banks"
    assert counting.encoded == []
    # The editors cite another fact-check: the next repeat is answered with that one.
    correction = FactCheckRecord(
        url="https://example.org/check/banks-2", claim_reviewed=BANKS, rating="misleading"
    )
    await import_records(database, [correction], source="test")
    async with database.session() as session:
        claim = await session.get_one(Claim, first.claim_id)
        cited = (
            await session.exec(select(FactCheck).where(FactCheck.rating == "misleading"))
        ).one()
        claim.fact_check_id = cited.id
        session.add(claim)
    again = await receive_tip(database, indexes, _tip(4, BANKS), IntakePolicy())
    assert again.fact_check is not None
    assert (again.kind, again.fact_check.fact_check_id) == ("verdict", cited.id)
    assert again.fact_check.rating == "misleading"
    reworded = await receive_tip(database, indexes, _tip(3, BANKS_DE), IntakePolicy())
    assert reworded.kind in ("verdict", "queued", "ask")
    assert counting.encoded != []  # a rewording is still matched
    indexes.close()


async def test_a_text_forwarded_again_is_matched_without_being_encoded_again(
    database: Database, encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    indexes = MatchingIndexes(counting)  # type: ignore[arg-type]
    await indexes.refresh(database)
    rumour = "The mayor has sold the central bus station to a casino, tell everyone"
    first = await receive_tip(database, indexes, _tip(1, rumour), IntakePolicy())
    second = await receive_tip(database, indexes, _tip(2, rumour), IntakePolicy())
    assert first.kind == second.kind == "queued"  # unanswered, so each is matched again
    assert second.claim_id == first.claim_id
    assert len(counting.encoded) == 1
    indexes.close()


async def test_a_forward_s_language_is_detected_where_the_indexes_are_once_per_text(
    database: Database, encoder: Encoder
) -> None:
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    assert indexes.holder is not None
    detected: list[str] = []
    detect = indexes.holder.detect_language

    def counted(text: str, fallback: str | None, then_match: tuple[str, int] | None) -> str:
        detected.append(text)
        return detect(text, fallback, then_match)

    indexes.holder.detect_language = counted  # type: ignore[method-assign]
    await receive_tip(database, indexes, _tip(1, BANKS_DE), IntakePolicy())
    await receive_tip(database, indexes, _tip(2, BANKS_DE), IntakePolicy())
    await receive_tip(database, indexes, _tip(3, "Fake!!", language_code="uk-UA"), IntakePolicy())
    async with database.session() as session:
        languages = (await session.exec(select(Tip.language).order_by(Tip.id))).all()
    assert languages == ["de", "de", "uk"]
    assert len(detected) == 1  # the repeat was known, the short text needs no detector
    indexes.close()


async def test_a_claim_indexed_while_a_tip_was_matched_is_searched_before_it_is_filed(
    database: Database, encoder: Encoder
) -> None:
    # The German forward was matched when no claim existed; the English one then founded
    # its claim in this same worker. Filing the German one must still find that claim, and
    # does so before it takes the database's filing lock (see _file_and_decide).
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    stale = await indexes.match(BANKS_DE, "de")
    assert stale.claims == []
    created = await receive_tip(database, indexes, _tip(1, BANKS), IntakePolicy())
    fresh = await indexes.search_claims_indexed_since(stale, BANKS_DE, "de")
    assert [c.id for c in fresh.claims] == [created.claim_id]
    assert fresh.claims[0].decision == "reply"
    assert await indexes.search_claims_indexed_since(fresh, BANKS_DE, "de") is fresh
    async with database.session() as session:
        again = await indexes.rematch_with_new_claims(session, stale, BANKS_DE, "de")
        assert [c.id for c in again.claims] == [created.claim_id]
        assert await indexes.rematch_with_new_claims(session, fresh, BANKS_DE, "de") is fresh
    indexes.close()


async def test_invisible_and_control_characters_are_not_stored(
    database: Database, encoder: Encoder
) -> None:
    # PostgreSQL refuses NUL in text; a lone surrogate cannot be encoded; an RTL override
    # would reorder what editors read.
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    hostile = "Banks\x00 close \u202eon Monday\u202c, withdraw \ud83d your money\u200b now"
    result = await receive_tip(database, indexes, _tip(77, hostile), IntakePolicy())
    assert result.kind == "queued"
    async with database.session() as session:
        tip = (await session.exec(select(Tip))).one()
    assert tip.text == "Banks close on Monday, withdraw  your money now"
    indexes.close()


async def test_a_refresh_indexes_an_import_once_and_then_only_what_changed(
    database: Database, encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    records = [
        FactCheckRecord(
            url=f"https://example.org/check/{n}",
            claim_reviewed=f"Claim number {n} about the town hall",
            rating="false",
        )
        for n in range(30)
    ]
    await import_records(database, records, source="test")
    indexes = MatchingIndexes(encoder)

    def updated() -> list[str]:
        return [r.getMessage() for r in caplog.records if "fact_check index" in r.getMessage()]

    with caplog.at_level("INFO", logger="newsroom.indexes"):
        await indexes.refresh(database)
        assert updated() == ["fact_check index: 30 rows updated"]
        await indexes.refresh(database)  # within the late-commit margin: re-read, not re-added
        assert len(updated()) == 1
        changed = replace(records[0], rating="true")
        await import_records(database, [changed], source="test")
        await indexes.refresh(database)
        assert updated()[-1] == "fact_check index: 1 rows updated"
    assert await indexes.sizes() == (30, 0)
    indexes.close()


async def test_a_refresh_does_not_read_again_the_claims_this_worker_filed(
    database: Database, encoder: Encoder
) -> None:
    # A burst founds claims every second; reading each back at the next refresh (vectors and
    # all) stalled the replies of the moment.
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    fetched: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _note(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FROM claim" in statement and "claim.embedding" in statement and " IN " in statement:
            fetched.append(statement)  # whole claim rows, by id

    await receive_tip(database, indexes, _tip(1, BANKS), IntakePolicy())
    fetched.clear()
    await indexes.refresh(database)
    assert fetched == []  # its key was read, its row not
    async with database.session() as session:
        claim = (await session.exec(select(Claim))).one()
        await claims.update_claim(session, claim, canonical_text=BANKS + " (edited)")
    await indexes.refresh(database)  # another worker's edit: read once
    assert len(fetched) == 1
    event.remove(database.engine.sync_engine, "before_cursor_execute", _note)
    indexes.close()
