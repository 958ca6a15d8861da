"""The newsroom desk as plain domain functions (triage, verdicts, audit), on both databases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlmodel import select

from newsroom.desk import (
    Actor,
    ClaimNotFoundError,
    NotAllowedError,
    TransitionError,
    assign_claim,
    attach_fact_check,
    check_transition,
    claim_detail,
    editor_for_telegram,
    list_queue,
    mark_not_checkable,
    merge_claims,
    reject_claim,
    reopen_claim,
)
from storage import claims, editors, reporters, subscriptions, tips
from storage.db import Database
from storage.models import (
    AuditEvent,
    Claim,
    ClaimStatus,
    EditorRole,
    FactCheck,
    OutboxMessage,
    Subscription,
    Tip,
)
from storage.types import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")

EDITOR = Actor(editor_id=None, name="tg:900", role="editor", source="telegram")
VIEWER = Actor(editor_id=None, name="viewer", role="viewer", source="dashboard")


async def _claim(
    db: Database,
    text: str,
    senders: Sequence[int],
    *,
    language: str = "en",
    media: bool = False,
    hours_ago: float = 0.0,
) -> int:
    """A claim with one tip and one subscription per sender, as intake would leave it."""
    at = utcnow() - timedelta(hours=hours_ago)
    async with db.session() as session:
        claim = await claims.create_claim(
            session,
            canonical_text=text,
            language=language,
            languages=[language],
            first_seen_at=at,
            last_seen_at=at,
            tip_count=len(senders),
            reporter_count=len(senders),
        )
        for user_id in senders:
            reporter = await reporters.touch_reporter(session, user_id)
            await tips.record_tip(
                session,
                reporter_id=reporter.id,
                chat_id=user_id,
                message_id=claim.id * 1000 + 7,
                text=text,
                language=language,
                claim_id=claim.id,
                received_at=at,
                media_kind="photo" if media else None,
            )
            await subscriptions.subscribe(session, reporter.id, claim.id)
        return claim.id


async def _fact_check(db: Database, url: str = "https://example.org/fc/1") -> int:
    async with db.session() as session:
        fact_check = FactCheck(
            url=url, claim_reviewed="The claim", headline="No, it is false", rating="false"
        )
        session.add(fact_check)
        await session.flush()
        return fact_check.id


async def _outbox(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list((await session.exec(select(OutboxMessage))).all())


async def test_state_machine_allows_only_listed_transitions() -> None:
    assert check_transition("new", "assign") == "in_review"
    assert check_transition("in_review", "answer") == "answered"
    assert check_transition("rejected", "reopen") == "new"
    assert check_transition("answered", "reopen", assigned=True) == "in_review"
    with pytest.raises(TransitionError, match="reopen it first"):
        check_transition("answered", "answer")
    with pytest.raises(TransitionError, match="reopen it first"):
        check_transition("rejected", "assign")
    with pytest.raises(TransitionError, match="merged"):
        check_transition("merged", "reopen")
    with pytest.raises(TransitionError, match="nothing to reopen"):
        check_transition("new", "reopen")


async def test_verdict_notifies_every_subscriber_once_in_their_language(
    database: Database,
) -> None:
    claim_id = await _claim(database, "Banks close on Monday", [11, 12, 13])
    async with database.session() as session:
        chosen = await reporters.get_reporter(session, 12)
        await reporters.set_reporter_language(session, chosen.id, "uk")
    fact_check_id = await _fact_check(database)

    result = await attach_fact_check(database, EDITOR, claim_id, fact_check_id)

    assert (result.notifications, result.status) == (3, "answered")
    messages = await _outbox(database)
    assert sorted(m.chat_id for m in messages) == [11, 12, 13]
    languages = {m.chat_id: m.payload["language"] for m in messages}
    assert languages == {11: "en", 12: "uk", 13: "en"}
    payload = messages[0].payload
    assert payload["kind"] == "verdict"
    assert payload["claim_id"] == claim_id
    assert payload["fact_check"]["url"] == "https://example.org/fc/1"
    assert payload["reply_to_message_id"] == claim_id * 1000 + 7
    async with database.session() as session:
        claim = await session.get_one(Claim, claim_id)
        waiting = (await session.exec(select(Subscription))).all()
    assert (claim.status, claim.fact_check_id) == ("answered", fact_check_id)
    assert all(s.notified_at is not None for s in waiting)


async def test_answering_twice_is_refused_and_reattaching_after_reopen_sends_nothing_twice(
    database: Database,
) -> None:
    claim_id = await _claim(database, "A rumour", [21, 22])
    fact_check_id = await _fact_check(database)
    await attach_fact_check(database, EDITOR, claim_id, fact_check_id)
    with pytest.raises(TransitionError, match="already answered"):
        await attach_fact_check(database, EDITOR, claim_id, fact_check_id)
    await reopen_claim(database, EDITOR, claim_id)
    again = await attach_fact_check(database, EDITOR, claim_id, fact_check_id)
    assert (again.notifications, again.already_notified) == (0, 2)
    assert len(await _outbox(database)) == 2


async def test_blocked_senders_are_skipped(database: Database) -> None:
    claim_id = await _claim(database, "A rumour", [31, 32])
    async with database.session() as session:
        await reporters.mark_reporter_blocked(session, 32)
    result = await attach_fact_check(database, EDITOR, claim_id, await _fact_check(database))
    assert (result.notifications, result.skipped_blocked) == (1, 1)
    assert [m.chat_id for m in await _outbox(database)] == [31]


async def test_merge_moves_tips_and_subscribers_and_a_later_verdict_reaches_both(
    database: Database,
) -> None:
    kept = await _claim(database, "Banks close on Monday", [41, 42], language="en")
    merged = await _claim(database, "Sparkassen schließen am Montag", [42, 43], language="de")

    target = await merge_claims(database, EDITOR, merged, kept)

    assert target.id == kept
    assert (target.tip_count, target.reporter_count) == (4, 3)
    assert set(target.languages) == {"en", "de"}
    async with database.session() as session:
        source = await session.get_one(Claim, merged)
        moved = (await session.exec(select(Tip).where(Tip.claim_id == merged))).all()
        subscribed = (await session.exec(select(Subscription))).all()
    assert (source.status, source.merged_into_id) == ("merged", kept)
    assert moved == []
    assert {s.claim_id for s in subscribed} == {kept}
    assert len(subscribed) == 3

    await attach_fact_check(database, EDITOR, kept, await _fact_check(database))
    assert sorted(m.chat_id for m in await _outbox(database)) == [41, 42, 43]
    with pytest.raises(TransitionError, match="merged"):
        await assign_claim(database, EDITOR, merged)


async def test_merging_into_an_answered_claim_tells_the_newcomers_at_once(
    database: Database,
) -> None:
    answered = await _claim(database, "A rumour", [51])
    await attach_fact_check(database, EDITOR, answered, await _fact_check(database))
    late = await _claim(database, "The same rumour, reworded", [52])
    await merge_claims(database, EDITOR, late, answered)
    assert sorted(m.chat_id for m in await _outbox(database)) == [51, 52]


async def test_every_action_is_audited_with_who_and_where(database: Database) -> None:
    async with database.session() as session:
        anna = await editors.add_editor(
            session, username="anna", password_hash=None, telegram_user_id=900
        )
    actor = Actor(editor_id=anna.id, name="anna", role="editor", source="dashboard")
    claim_id = await _claim(database, "A rumour", [61])
    other = await _claim(database, "Another rumour", [62])
    spam = await _claim(database, "buy cheap pills", [63])

    claim = await assign_claim(database, actor, claim_id)
    assert (claim.status, claim.assignee_id) == ("in_review", anna.id)
    await mark_not_checkable(database, actor, claim_id, "an opinion")
    await reopen_claim(database, actor, claim_id)
    await reject_claim(database, actor, spam, "spam")
    await merge_claims(database, actor, other, claim_id)
    await attach_fact_check(database, actor, claim_id, await _fact_check(database))

    detail = await claim_detail(database, claim_id)
    assert [e.action for e in detail.audit] == [
        "assign",
        "not_checkable",
        "reopen",
        "merged_in",
        "answer",
    ]
    assert {(e.actor, e.source) for e in detail.audit} == {("anna", "dashboard")}
    assert detail.claim.status == "answered"
    assert detail.claim.assignee == "anna"
    assert detail.merged_claim_ids == (other,)
    assert detail.fact_check is not None
    assert detail.fact_check.url == "https://example.org/fc/1"
    async with database.session() as session:
        events = (await session.exec(select(AuditEvent))).all()
    assert {e.action for e in events if e.claim_id == spam} == {"rejected"}
    assert {e.action for e in events if e.claim_id == other} == {"merge"}
    assert all(e.editor_id == anna.id for e in events)


async def test_viewers_may_look_but_not_act(database: Database) -> None:
    claim_id = await _claim(database, "A rumour", [71])
    for action in (
        assign_claim(database, VIEWER, claim_id),
        reject_claim(database, VIEWER, claim_id, "no"),
        mark_not_checkable(database, VIEWER, claim_id),
        attach_fact_check(database, VIEWER, claim_id, await _fact_check(database)),
    ):
        with pytest.raises(NotAllowedError):
            await action
    assert (await claim_detail(database, claim_id)).claim.status == "new"
    assert await _outbox(database) == []


async def test_unknown_claim_is_a_polite_error(database: Database) -> None:
    with pytest.raises(ClaimNotFoundError, match="no claim #999"):
        await assign_claim(database, EDITOR, 999)


async def test_queue_orders_by_senders_growth_and_recency_and_filters(
    database: Database,
) -> None:
    old_popular = await _claim(database, "old but many", list(range(100, 140)), hours_ago=30)
    fresh_small = await _claim(database, "fresh and small", [201], language="de")
    stale_small = await _claim(database, "stale and small", [202], hours_ago=48, media=True)
    closed = await _claim(database, "closed one", [203])
    await reject_claim(database, EDITOR, closed, "spam")

    queue = await list_queue(database)
    assert [c.id for c in queue] == [old_popular, fresh_small, stale_small]
    assert queue[1].growth_per_hour == 1
    assert [c.id for c in await list_queue(database, language="de")] == [fresh_small]
    assert [c.id for c in await list_queue(database, has_media=True)] == [stale_small]
    assert [c.id for c in await list_queue(database, search="FRESH")] == [fresh_small]
    assert [c.id for c in await list_queue(database, search="100%")] == []
    assert [c.id for c in await list_queue(database, status="rejected")] == [closed]
    since = utcnow() - timedelta(hours=1)
    assert [c.id for c in await list_queue(database, since=since)] == [fresh_small]
    assert [c.id for c in await list_queue(database, limit=1, offset=1)] == [fresh_small]


async def test_detail_shows_tip_variants_but_never_senders(database: Database) -> None:
    claim_id = await _claim(database, "A rumour", [81, 82])
    detail = await claim_detail(database, claim_id)
    assert len(detail.tips) == 2
    assert detail.subscriber_count == 2
    fields = set(detail.tips[0].__dataclass_fields__)
    assert not fields & {"reporter_id", "chat_id", "telegram_user_id", "message_id"}


async def test_telegram_editors_come_from_settings_or_editor_rows(database: Database) -> None:
    async with database.session() as session:
        await editors.add_editor(
            session,
            username="vera",
            password_hash=None,
            telegram_user_id=501,
            role=EditorRole.VIEWER,
        )
        await editors.add_editor(
            session,
            username="boss",
            password_hash=None,
            telegram_user_id=502,
            role=EditorRole.ADMIN,
        )
    allowed = frozenset({500, 501})
    from_settings = await editor_for_telegram(database, 500, allowed)
    assert from_settings == Actor(None, "tg:500", "editor", "telegram")
    promoted = await editor_for_telegram(database, 501, allowed)
    assert (promoted.name, promoted.role) == ("vera", "editor")
    assert (await editor_for_telegram(database, 501, frozenset())).role == "viewer"
    assert (await editor_for_telegram(database, 502, frozenset())).role == "admin"
    assert await editor_for_telegram(database, 503, allowed) is None


async def test_closed_claims_cannot_be_answered_until_reopened(database: Database) -> None:
    claim_id = await _claim(database, "A rumour", [91])
    fact_check_id = await _fact_check(database)
    await reject_claim(database, EDITOR, claim_id, "spam")
    with pytest.raises(TransitionError, match="reopen"):
        await attach_fact_check(database, EDITOR, claim_id, fact_check_id)
    reopened = await reopen_claim(database, EDITOR, claim_id)
    assert reopened.status == ClaimStatus.NEW
    assert (await attach_fact_check(database, EDITOR, claim_id, fact_check_id)).notifications == 1
