"""The newsroom desk: triage of claims and publication of verdicts, for Telegram and dashboard.

Every action takes an ``Actor`` (who, with which role, from where), checks the role, checks
the claim status state machine (``check_transition``, the one place transitions are decided),
changes the claim and writes an ``AuditEvent`` in one transaction. Answering a claim also
writes the senders' notifications to the outbox in that same transaction: either the verdict
and every notification are stored, or nothing is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import claims, subscriptions
from storage.db import Database
from storage.editors import audit_trail, get_editor_by_telegram_id, record_audit_event
from storage.factchecks import get_fact_check, get_fact_check_by_url
from storage.models import Claim, ClaimStatus, Editor, EditorRole, FactCheck
from storage.outbox import enqueue_message
from storage.stats import collect_stats
from storage.subscriptions import Recipient
from storage.tips import tips_of_claims
from storage.types import utcnow

__all__ = [
    "OPEN_STATUSES",
    "Actor",
    "AuditEntry",
    "ClaimDetail",
    "ClaimNotFoundError",
    "ClaimSummary",
    "DeskError",
    "FactCheckNotFoundError",
    "FactCheckSummary",
    "NotAllowedError",
    "TipVariant",
    "TransitionError",
    "VerdictResult",
    "assign_claim",
    "attach_fact_check",
    "check_transition",
    "claim_detail",
    "claim_summary",
    "desk_stats",
    "editor_for_telegram",
    "fact_check_by_url",
    "list_queue",
    "lock_claims_for_merge",
    "mark_not_checkable",
    "merge_claims",
    "merge_locked_claims",
    "priority_score",
    "reject_claim",
    "reopen_claim",
    "summarize_claim",
    "verdict_payload",
]

OPEN_STATUSES = (ClaimStatus.NEW, ClaimStatus.IN_REVIEW)

# The claim status state machine: each editor action, the statuses it may start from, and
# the status it leads to (reopening goes back to in_review when someone is assigned, else new).
# ``merged`` is final: its tips and subscribers now belong to another claim.
_CLOSED = frozenset({ClaimStatus.ANSWERED, ClaimStatus.NOT_CHECKABLE, ClaimStatus.REJECTED})
_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "assign": (frozenset(OPEN_STATUSES), ClaimStatus.IN_REVIEW),
    "answer": (frozenset(OPEN_STATUSES), ClaimStatus.ANSWERED),
    "not_checkable": (frozenset(OPEN_STATUSES), ClaimStatus.NOT_CHECKABLE),
    "reject": (frozenset(OPEN_STATUSES), ClaimStatus.REJECTED),
    "merge": (frozenset(OPEN_STATUSES), ClaimStatus.MERGED),
    "reopen": (_CLOSED, ClaimStatus.NEW),
}

_ROLE_RANK = {EditorRole.VIEWER: 0, EditorRole.EDITOR: 1, EditorRole.ADMIN: 2}
# How many candidate claims the queue ranks in memory; older ones are reached by filters.
_QUEUE_CANDIDATES = 2000


@dataclass(frozen=True)
class Actor:
    """Who acts, for authorisation and the audit log."""

    editor_id: int | None
    name: str
    role: str
    source: Literal["telegram", "dashboard"]


class DeskError(Exception):
    """Base of the desk's refusals; ``str()`` is a polite message for the editor."""


class NotAllowedError(DeskError):
    """The actor's role may not do this."""


class ClaimNotFoundError(DeskError):
    """No claim has this number."""


class TransitionError(DeskError):
    """The claim status state machine forbids this change."""


class FactCheckNotFoundError(DeskError):
    """No imported fact-check has this id or URL."""


@dataclass(frozen=True)
class ClaimSummary:
    """One claim as the queue shows it; never anything about who sent it."""

    id: int
    canonical_text: str
    language: str | None
    languages: tuple[str, ...]
    status: str
    tip_count: int
    reporter_count: int
    growth_per_hour: int
    priority: float
    first_seen_at: datetime
    last_seen_at: datetime
    assignee_id: int | None
    assignee: str | None
    has_media: bool
    merged_into_id: int | None
    fact_check_id: int | None
    status_reason: str | None


@dataclass(frozen=True)
class TipVariant:
    """One forward of a claim: its wording and where it came from, not who sent it."""

    id: int
    text: str
    language: str | None
    received_at: datetime
    media_kind: str | None
    forward_origin_type: str | None
    forward_title: str | None
    forward_username: str | None
    forward_message_id: int | None
    ocr_text: str | None = None  # what OCR read in the tip's picture, if it had one


@dataclass(frozen=True)
class FactCheckSummary:
    """A fact-check attached to, or suggested for, a claim (``score`` for suggestions)."""

    id: int
    url: str
    headline: str | None
    claim_reviewed: str
    publisher: str | None
    rating: str
    rating_text: str | None
    language: str | None
    score: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    source: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ClaimDetail:
    """A claim with its tips, its attached or suggested fact-checks and its audit trail."""

    claim: ClaimSummary
    tips: tuple[TipVariant, ...]
    fact_check: FactCheckSummary | None
    suggestions: tuple[FactCheckSummary, ...]
    merged_claim_ids: tuple[int, ...]
    subscriber_count: int
    audit: tuple[AuditEntry, ...]


@dataclass(frozen=True)
class VerdictResult:
    """What answering a claim did: how many senders will be told, and who was skipped."""

    claim_id: int
    fact_check_id: int
    status: str
    notifications: int
    already_notified: int
    skipped_blocked: int
    claim_ids: tuple[int, ...]


# --- Authorisation --------------------------------------------------------------------------


async def editor_for_telegram(
    db: Database, telegram_user_id: int, allowed_ids: frozenset[int]
) -> Actor | None:
    """The actor behind a Telegram user, or None for anyone who is not on the desk.

    Ids in ``TIPLINE_EDITOR_TELEGRAM_IDS`` act at least as editors; an Editor row with this
    Telegram id gives its own role (and name in the audit log).
    """
    async with db.session() as session:
        editor = await get_editor_by_telegram_id(session, telegram_user_id)
    if editor is None and telegram_user_id not in allowed_ids:
        return None
    role = editor.role if editor is not None else EditorRole.EDITOR
    if telegram_user_id in allowed_ids and _ROLE_RANK.get(role, 0) < _ROLE_RANK[EditorRole.EDITOR]:
        role = EditorRole.EDITOR
    return Actor(
        editor_id=editor.id if editor is not None else None,
        name=editor.username if editor is not None else f"tg:{telegram_user_id}",
        role=str(role),
        source="telegram",
    )


def _require_editor(actor: Actor) -> None:
    if _ROLE_RANK.get(actor.role, -1) < _ROLE_RANK[EditorRole.EDITOR]:
        raise NotAllowedError("Sorry, your role lets you look at claims but not change them.")


# --- The state machine ----------------------------------------------------------------------


def check_transition(current: str, action: str, *, assigned: bool = False) -> str:
    """The status ``action`` leads to from ``current``; ``TransitionError`` if it may not."""
    allowed_from, target = _TRANSITIONS[action]
    if current not in allowed_from:
        if current == ClaimStatus.MERGED:
            raise TransitionError("This claim was merged into another one; act on that claim.")
        if current == ClaimStatus.ANSWERED:
            raise TransitionError("This claim is already answered; reopen it first.")
        if current in _CLOSED:
            raise TransitionError(f"This claim is closed ({current}); reopen it first.")
        raise TransitionError(f"This claim is {current} already; there is nothing to {action}.")
    if action == "reopen" and assigned:
        return ClaimStatus.IN_REVIEW
    return target


async def _claim_for_action(session: AsyncSession, claim_id: int) -> Claim:
    claim = await claims.lock_claim(session, claim_id)
    if claim is None:
        raise ClaimNotFoundError(f"There is no claim #{claim_id}.")
    return claim


async def _audit(
    session: AsyncSession, actor: Actor, action: str, claim_id: int, **detail: Any
) -> None:
    await record_audit_event(
        session,
        actor=actor.name,
        action=action,
        source=actor.source,
        claim_id=claim_id,
        editor_id=actor.editor_id,
        detail=detail,
    )


# --- Reading the queue ----------------------------------------------------------------------


def priority_score(
    reporter_count: int, growth_per_hour: int, hours_since_last_seen: float
) -> float:
    """Order of the queue: many senders first, then fast growth, then recent activity.

    Senders count logarithmically (the 500th sender matters less than the 5th), each forward
    of the last hour adds one, and a claim seen just now gets up to 2 points more than one
    seen a day ago.
    """
    recency = 2.0 / (1.0 + max(hours_since_last_seen, 0.0) / 6.0)
    return 3.0 * math.log2(1 + reporter_count) + growth_per_hour + recency


def summarize_claim(
    claim: Claim, *, assignee: str | None, has_media: bool, growth: int, now: datetime
) -> ClaimSummary:
    """A claim row as the desk shows it, with its priority as of ``now``."""
    hours = (now - claim.last_seen_at).total_seconds() / 3600
    return ClaimSummary(
        id=claim.id or 0,
        canonical_text=claim.canonical_text,
        language=claim.language,
        languages=tuple(claim.languages or ()),
        status=claim.status,
        tip_count=claim.tip_count,
        reporter_count=claim.reporter_count,
        growth_per_hour=growth,
        priority=round(priority_score(claim.reporter_count, growth, hours), 3),
        first_seen_at=claim.first_seen_at,
        last_seen_at=claim.last_seen_at,
        assignee_id=claim.assignee_id,
        assignee=assignee,
        has_media=has_media,
        merged_into_id=claim.merged_into_id,
        fact_check_id=claim.fact_check_id,
        status_reason=claim.status_reason,
    )


async def list_queue(
    db: Database,
    *,
    status: str | None = None,
    language: str | None = None,
    assignee_id: int | None = None,
    search: str | None = None,
    has_media: bool | None = None,
    since: datetime | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[ClaimSummary]:
    """Claims (open ones unless ``status`` says otherwise) by priority: senders, growth,
    recency (``priority_score``)."""
    now = utcnow()
    statuses = (status,) if status else OPEN_STATUSES
    async with db.session() as session:
        rows = await claims.find_claims(
            session,
            statuses=statuses,
            language=language,
            assignee_id=assignee_id,
            search=search.strip() if search else None,
            has_media=has_media,
            since=since,
            limit=_QUEUE_CANDIDATES,
        )
        growth = await claims.tips_per_claim_since(
            session, [claim.id or 0 for claim, _, _ in rows], now - timedelta(hours=1)
        )
    summaries = [
        summarize_claim(
            claim,
            assignee=assignee,
            has_media=media,
            growth=growth.get(claim.id or 0, 0),
            now=now,
        )
        for claim, assignee, media in rows
    ]
    summaries.sort(key=lambda s: (-s.priority, -s.last_seen_at.timestamp(), -s.id))
    return summaries[offset : offset + limit]


async def claim_summary(db: Database, claim_id: int) -> ClaimSummary:
    """One claim as the queue would show it."""
    return (await claim_detail(db, claim_id, tips=0)).claim


def _fact_check_summary(fact_check: FactCheck, score: float | None = None) -> FactCheckSummary:
    return FactCheckSummary(
        id=fact_check.id or 0,
        url=fact_check.url,
        headline=fact_check.headline,
        claim_reviewed=fact_check.claim_reviewed,
        publisher=fact_check.publisher,
        rating=fact_check.rating,
        rating_text=fact_check.rating_text,
        language=fact_check.language,
        score=score,
    )


async def claim_detail(db: Database, claim_id: int, *, tips: int = 50) -> ClaimDetail:
    """A claim, its tip variants (never who sent them), attached and suggested fact-checks
    with their scores, and its audit trail."""
    now = utcnow()
    async with db.session() as session:
        claim = await claims.get_claim(session, claim_id)
        if claim is None:
            raise ClaimNotFoundError(f"There is no claim #{claim_id}.")
        merged = await claims.claims_merged_into(session, claim_id)
        rows = await tips_of_claims(session, [claim_id], limit=tips) if tips else []
        assignee = await session.get(Editor, claim.assignee_id) if claim.assignee_id else None
        growth = await claims.tips_per_claim_since(session, [claim_id], now - timedelta(hours=1))
        attached = (
            await get_fact_check(session, claim.fact_check_id) if claim.fact_check_id else None
        )
        suggested = (
            await get_fact_check(session, claim.suggested_fact_check_id)
            if claim.suggested_fact_check_id
            else None
        )
        subscriber_count = await subscriptions.count_subscribers(session, claim_id)
        trail = await audit_trail(session, claim_id)
        has_media = await claims.claim_has_media(session, claim_id)
    return ClaimDetail(
        claim=summarize_claim(
            claim,
            assignee=assignee.username if assignee else None,
            has_media=has_media,
            growth=growth.get(claim_id, 0),
            now=now,
        ),
        tips=tuple(
            TipVariant(
                id=tip.id or 0,
                text=tip.text,
                language=tip.language,
                received_at=tip.received_at,
                media_kind=tip.media_kind,
                forward_origin_type=tip.forward_origin_type,
                forward_title=tip.forward_title,
                forward_username=tip.forward_username,
                forward_message_id=tip.forward_message_id,
                ocr_text=tip.ocr_text,
            )
            for tip in rows
        ),
        fact_check=_fact_check_summary(attached) if attached else None,
        suggestions=(
            (_fact_check_summary(suggested, claim.suggested_score),)
            if suggested and suggested.id != claim.fact_check_id
            else ()
        ),
        merged_claim_ids=tuple(merged),
        subscriber_count=subscriber_count,
        audit=tuple(
            AuditEntry(at=e.at, actor=e.actor, action=e.action, source=e.source, detail=e.detail)
            for e in trail
        ),
    )


async def desk_stats(db: Database) -> dict[str, Any]:
    """The counts shown by /stats and the dashboard (the same as ``tipline stats --json``)."""
    async with db.session() as session:
        return await collect_stats(session)


async def fact_check_by_url(db: Database, url: str) -> FactCheckSummary | None:
    """An imported fact-check by its URL, for ``/verdict N URL``."""
    async with db.session() as session:
        fact_check = await get_fact_check_by_url(session, url.strip())
    return _fact_check_summary(fact_check) if fact_check else None


# --- Triage ---------------------------------------------------------------------------------


async def assign_claim(
    db: Database, actor: Actor, claim_id: int, editor_id: int | None = None
) -> Claim:
    """Put a claim in review with an editor (the actor, when ``editor_id`` is None)."""
    _require_editor(actor)
    assignee_id = editor_id if editor_id is not None else actor.editor_id
    async with db.session() as session:
        if assignee_id is not None:
            editor = await session.get(Editor, assignee_id)
            if editor is None or not editor.active:
                raise DeskError(f"There is no active editor #{assignee_id}.")
        claim = await _claim_for_action(session, claim_id)
        check_transition(claim.status, "assign")
        previous = claim.assignee_id
        await claims.update_claim(
            session, claim, status=ClaimStatus.IN_REVIEW, assignee_id=assignee_id
        )
        await _audit(session, actor, "assign", claim_id, assignee_id=assignee_id, previous=previous)
        return claim


async def _close(
    db: Database, actor: Actor, claim_id: int, action: str, reason: str | None
) -> Claim:
    _require_editor(actor)
    reason = (reason or "").strip()[:1000] or None
    async with db.session() as session:
        claim = await _claim_for_action(session, claim_id)
        status = check_transition(claim.status, action)
        await claims.update_claim(session, claim, status=status, status_reason=reason)
        await _audit(session, actor, str(status), claim_id, reason=reason)
        return claim


async def reject_claim(db: Database, actor: Actor, claim_id: int, reason: str) -> Claim:
    """Close a claim that is not a claim at all (spam, a joke, off-topic)."""
    return await _close(db, actor, claim_id, "reject", reason)


async def mark_not_checkable(
    db: Database, actor: Actor, claim_id: int, reason: str | None = None
) -> Claim:
    """Close a claim nobody can check (an opinion, a prediction, no evidence either way)."""
    return await _close(db, actor, claim_id, "not_checkable", reason)


async def reopen_claim(db: Database, actor: Actor, claim_id: int) -> Claim:
    """Reopen a closed or answered claim: back in review if assigned, else new.

    Its fact-check is detached; attaching one again notifies only senders who were not
    already told about that same fact-check.
    """
    _require_editor(actor)
    async with db.session() as session:
        claim = await _claim_for_action(session, claim_id)
        target = check_transition(claim.status, "reopen", assigned=claim.assignee_id is not None)
        previous = (claim.status, claim.fact_check_id)
        await claims.update_claim(
            session,
            claim,
            status=target,
            status_reason=None,
            fact_check_id=None,
            answered_at=None,
        )
        await _audit(
            session, actor, "reopen", claim_id, previous=previous[0], fact_check_id=previous[1]
        )
        return claim


async def merge_claims(db: Database, actor: Actor, claim_id: int, into_claim_id: int) -> Claim:
    """Merge a claim into another: its tips and subscribers move, its counts join the other's.

    Returns the claim merged into. If that claim is already answered, the senders who moved
    get its verdict (through the outbox, in this transaction).
    """
    _require_editor(actor)
    if claim_id == into_claim_id:
        raise DeskError("A claim cannot be merged into itself.")
    async with db.session() as session:
        source, target = await lock_claims_for_merge(session, claim_id, into_claim_id)
        await merge_locked_claims(session, actor, source, target)
        return target


async def lock_claims_for_merge(
    session: AsyncSession, claim_id: int, into_claim_id: int
) -> tuple[Claim, Claim]:
    """Both claims, locked in id order, so two opposite merges cannot deadlock."""
    locked = {i: await _claim_for_action(session, i) for i in sorted((claim_id, into_claim_id))}
    return locked[claim_id], locked[into_claim_id]


async def merge_locked_claims(
    session: AsyncSession, actor: Actor, source: Claim, target: Claim
) -> None:
    """The merge itself, in the caller's transaction, with both claims locked.

    Not authorised here: editors come through :func:`merge_claims`, and a sender who says
    their post is the same as a claim through ``newsroom.intake.record_match_answer``.
    """
    claim_id, into_claim_id = source.id or 0, target.id or 0
    check_transition(source.status, "merge")
    if target.status not in (*OPEN_STATUSES, ClaimStatus.ANSWERED):
        raise TransitionError(
            f"Claim #{into_claim_id} is {target.status}; merge into an open or answered claim."
        )
    shared = await claims.shared_reporters(session, claim_id, into_claim_id)
    moved_tips = await claims.move_tips(session, claim_id, into_claim_id)
    moved_subscribers = await subscriptions.move_subscriptions(session, claim_id, into_claim_id)
    await claims.repoint_merged_claims(session, claim_id, into_claim_id)
    languages = list(dict.fromkeys([*target.languages, *source.languages]))
    await claims.update_claim(
        session,
        target,
        tip_count=target.tip_count + source.tip_count,
        reporter_count=target.reporter_count + source.reporter_count - shared,
        first_seen_at=min(target.first_seen_at, source.first_seen_at),
        last_seen_at=max(target.last_seen_at, source.last_seen_at),
        languages=languages,
    )
    await claims.update_claim(
        session, source, status=ClaimStatus.MERGED, merged_into_id=into_claim_id
    )
    await _audit(
        session,
        actor,
        "merge",
        claim_id,
        into=into_claim_id,
        tips=moved_tips,
        subscribers=moved_subscribers,
    )
    await _audit(session, actor, "merged_in", into_claim_id, source=claim_id)
    if target.status == ClaimStatus.ANSWERED and target.fact_check_id is not None:
        fact_check = await get_fact_check(session, target.fact_check_id)
        if fact_check is not None:
            await _notify_subscribers(session, target, fact_check)


# --- Verdicts -------------------------------------------------------------------------------


def verdict_payload(claim_id: int, fact_check: FactCheck, recipient: Recipient) -> dict[str, Any]:
    """The outbox payload of a verdict notification: structured, rendered at delivery."""
    return {
        "kind": "verdict",
        "claim_id": claim_id,
        "language": recipient.language or recipient.tip_language,
        "reply_to_message_id": recipient.last_message_id,
        "fact_check": {
            "id": fact_check.id,
            "url": fact_check.url,
            "rating": fact_check.rating,
            "rating_text": fact_check.rating_text,
            "headline": fact_check.headline,
            "claim_reviewed": fact_check.claim_reviewed,
            "publisher": fact_check.publisher,
            "published_at": fact_check.published_at.isoformat()
            if fact_check.published_at
            else None,
        },
    }


@dataclass(frozen=True)
class _Notified:
    claim_ids: tuple[int, ...]
    queued: int
    already: int
    blocked: int


async def _notify_subscribers(
    session: AsyncSession, claim: Claim, fact_check: FactCheck
) -> _Notified:
    """Queue the verdict for every subscriber of the claim and of claims merged into it.

    Exactly once per sender, claim and fact-check (the dedupe key), whoever clicks twice or
    whichever worker does it; senders who blocked the bot are skipped.
    """
    claim_id = claim.id or 0
    claim_ids = (claim_id, *await claims.claims_merged_into(session, claim_id))
    queued = already = blocked = 0
    notified: list[int] = []
    for recipient in await subscriptions.recipients(session, claim_ids):
        if recipient.blocked_bot:
            blocked += 1
            continue
        created = await enqueue_message(
            session,
            chat_id=recipient.telegram_user_id,
            payload=verdict_payload(claim_id, fact_check, recipient),
            dedupe_key=f"verdict:{claim_id}:{fact_check.id}:{recipient.reporter_id}",
            reporter_id=recipient.reporter_id,
        )
        queued += created
        already += not created
        notified.append(recipient.reporter_id)
    await subscriptions.mark_notified(session, claim_ids, notified, utcnow())
    return _Notified(claim_ids, queued, already, blocked)


async def attach_fact_check(
    db: Database, actor: Actor, claim_id: int, fact_check_id: int
) -> VerdictResult:
    """Answer a claim with a published fact-check and queue its senders' notifications.

    The claim's status, the audit event and every outbox row are written in one transaction.
    """
    _require_editor(actor)
    async with db.session() as session:
        claim = await _claim_for_action(session, claim_id)
        fact_check = await get_fact_check(session, fact_check_id)
        if fact_check is None:
            raise FactCheckNotFoundError(f"There is no imported fact-check #{fact_check_id}.")
        if claim.status == ClaimStatus.ANSWERED and claim.fact_check_id == fact_check_id:
            raise TransitionError(f"Claim #{claim_id} is already answered with this fact-check.")
        check_transition(claim.status, "answer")
        await claims.update_claim(
            session,
            claim,
            status=ClaimStatus.ANSWERED,
            fact_check_id=fact_check_id,
            answered_at=utcnow(),
            status_reason=None,
        )
        notified = await _notify_subscribers(session, claim, fact_check)
        await _audit(
            session,
            actor,
            "answer",
            claim_id,
            fact_check_id=fact_check_id,
            url=fact_check.url,
            notifications=notified.queued,
            skipped_blocked=notified.blocked,
        )
        return VerdictResult(
            claim_id=claim_id,
            fact_check_id=fact_check_id,
            status=claim.status,
            notifications=notified.queued,
            already_notified=notified.already,
            skipped_blocked=notified.blocked,
            claim_ids=notified.claim_ids,
        )
