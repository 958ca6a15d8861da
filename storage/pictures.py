"""Queries about pictures: the perceptual hashes stored with tips and fact-checks.

Near-duplicate pictures are found by Hamming distance, which no index of ours can answer, so
candidates are read and compared in ``newsroom``; the reads are bounded (``limit``) and touch
only the few columns a comparison needs. Exact copies use the ``image_hash`` indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Claim, ClaimStatus, FactCheck, Reporter, Tip

__all__ = [
    "EarlierReading",
    "StoredPicture",
    "UnreadPicture",
    "earlier_reading",
    "fact_check_pictures",
    "fact_checks_with_images",
    "pictures_of_live_claims",
    "set_fact_check_image_hash",
    "unread_pictures",
]


@dataclass(frozen=True, slots=True)
class StoredPicture:
    """A stored picture hash and what it belongs to (a claim or a fact-check)."""

    owner_id: int
    image_hash: str
    text_chars: int = 0


async def pictures_of_live_claims(
    session: AsyncSession, *, excluding_tip_id: int | None = None, limit: int = 20_000
) -> list[StoredPicture]:
    """Picture hashes of tips filed under claims that are not merged away, newest first."""
    statement = (
        select(Tip.claim_id, Tip.image_hash, func.coalesce(func.length(Tip.ocr_text), 0))
        .join(Claim, col(Claim.id) == Tip.claim_id)
        .where(col(Tip.image_hash).is_not(None), Claim.status != ClaimStatus.MERGED)
        .order_by(col(Tip.received_at).desc())
        .limit(limit)
    )
    if excluding_tip_id is not None:
        statement = statement.where(Tip.id != excluding_tip_id)
    rows = (await session.exec(statement)).all()
    return [
        StoredPicture(int(claim_id), image_hash, int(chars)) for claim_id, image_hash, chars in rows
    ]


@dataclass(frozen=True, slots=True)
class EarlierReading:
    """What reading a file found when another tip brought it: its hash, and its text (None
    when OCR did not run, empty when it ran and read nothing)."""

    image_hash: str
    ocr_text: str | None


async def earlier_reading(
    session: AsyncSession, file_unique_id: str, *, excluding_tip_id: int
) -> EarlierReading | None:
    """The newest reading of this very file (Telegram's ``file_unique_id``) another tip got."""
    statement = (
        select(Tip.image_hash, Tip.ocr_text)
        .where(
            Tip.media_file_unique_id == file_unique_id,
            col(Tip.image_hash).is_not(None),
            Tip.id != excluding_tip_id,
        )
        .order_by(col(Tip.received_at).desc())
        .limit(1)
    )
    row = (await session.exec(statement)).first()
    return EarlierReading(*row) if row is not None else None


async def fact_check_pictures(session: AsyncSession, *, limit: int = 50_000) -> list[StoredPicture]:
    """Hashes of the pictures published fact-checks debunk, newest fact-checks first."""
    statement = (
        select(FactCheck.id, FactCheck.image_hash)
        .where(col(FactCheck.image_hash).is_not(None))
        .order_by(col(FactCheck.id).desc())
        .limit(limit)
    )
    return [StoredPicture(int(i), h) for i, h in (await session.exec(statement)).all()]


async def fact_checks_with_images(
    session: AsyncSession, fact_check_ids: Sequence[int]
) -> list[tuple[int, str | None]]:
    """(id, image URL) of these fact-checks."""
    if not fact_check_ids:
        return []
    statement = select(FactCheck.id, FactCheck.image_url).where(
        col(FactCheck.id).in_(fact_check_ids)
    )
    return [(int(i), url) for i, url in (await session.exec(statement)).all()]


async def set_fact_check_image_hash(
    session: AsyncSession, fact_check_id: int, image_hash: str | None
) -> None:
    """Store the hash without moving ``updated_at``: the text indexes do not care about it."""
    fact_check = await session.get(FactCheck, fact_check_id)
    if fact_check is not None and fact_check.image_hash != image_hash:
        fact_check.image_hash = image_hash
        session.add(fact_check)
        await session.flush()


@dataclass(frozen=True, slots=True)
class UnreadPicture:
    """A tip still waiting for its picture to be read, with what answering it needs."""

    tip_id: int
    chat_id: int
    message_id: int
    file_id: str
    file_unique_id: str | None
    caption: str
    language: str | None  # the sender's chosen language, else the tip's


async def unread_pictures(
    session: AsyncSession, *, received_before: datetime, limit: int = 10_000
) -> list[UnreadPicture]:
    """Tips whose picture nobody read: a worker stopped before it got to them."""
    statement = (
        select(Tip.id, Tip.chat_id, Tip.message_id, Tip.media_file_id, Tip.media_file_unique_id)
        .add_columns(Tip.text, Tip.language, Reporter.language)
        .join(Reporter, col(Reporter.id) == col(Tip.reporter_id))
        .where(
            Tip.reply_kind == "reading",
            col(Tip.media_file_id).is_not(None),
            col(Tip.received_at) < received_before,
        )
        .order_by(col(Tip.id))
        .limit(limit)
    )
    rows = (await session.exec(statement)).all()
    return [
        UnreadPicture(*picture, caption, chosen or detected)
        for *picture, caption, detected, chosen in rows
    ]
