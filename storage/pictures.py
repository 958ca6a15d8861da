"""Queries about pictures: the perceptual hashes stored with tips and fact-checks.

Near-duplicate pictures are found by Hamming distance, which no index of ours can answer, so
candidates are read and compared in ``newsroom``; the reads are bounded (``limit``) and touch
only the few columns a comparison needs. Exact copies use the ``image_hash`` indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, false, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Claim, ClaimStatus, FactCheck, Reporter, Tip
from storage.prepared import Prepared

__all__ = [
    "EarlierReading",
    "PictureCandidate",
    "UnreadPicture",
    "earlier_reading",
    "fact_check_pictures",
    "fact_checks_with_images",
    "pictures_of_live_claims",
    "set_fact_check_image_hash",
    "unread_pictures",
]


# What near-duplicate search compares a picture with: (owner id, stored hash, whether the
# picture is mostly text), as matching.images.nearest_copy takes them.
PictureCandidate = tuple[int, str, bool]

# Every picture filed is compared with these, tens of thousands of rows each time: built
# once, on the tables, with the text-heavy test in SQL, the rows go to the comparison as they
# come. Read through the models into objects, 20,000 of them held the event loop 42-63 ms
# per picture, against 9-12 ms now (bench/images.py --only filed, docs/BENCHMARKS.md).
_tip, _claim, _fact_check = Tip.__table__, Claim.__table__, FactCheck.__table__
_PICTURES_OF_LIVE_CLAIMS = (
    select_columns(
        _tip.c.claim_id,
        _tip.c.image_hash,
        func.coalesce(func.length(_tip.c.ocr_text), 0) >= bindparam("text_heavy_chars"),
    )
    .join_from(_tip, _claim, _claim.c.id == _tip.c.claim_id)
    .where(
        _tip.c.image_hash.is_not(None),
        _claim.c.status != ClaimStatus.MERGED,
        _tip.c.id != bindparam("excluding"),
    )
    .order_by(_tip.c.received_at.desc())
    .limit(bindparam("limit"))
)
_FACT_CHECK_PICTURES = (
    select_columns(_fact_check.c.id, _fact_check.c.image_hash, false())
    .where(_fact_check.c.image_hash.is_not(None))
    .order_by(_fact_check.c.id.desc())
    .limit(bindparam("limit"))
)


async def pictures_of_live_claims(
    session: AsyncSession,
    *,
    text_heavy_chars: int,
    excluding_tip_id: int | None = None,
    limit: int = 20_000,
) -> Sequence[PictureCandidate]:
    """The pictures of tips filed under claims that are not merged away, newest first, owned
    by their claims; text-heavy when OCR read at least ``text_heavy_chars`` in them."""
    params = {
        "text_heavy_chars": text_heavy_chars,
        "excluding": excluding_tip_id or 0,  # tip ids start at 1
        "limit": limit,
    }
    return (await session.exec(_PICTURES_OF_LIVE_CLAIMS, params=params)).all()


async def fact_check_pictures(
    session: AsyncSession, *, limit: int = 50_000
) -> Sequence[PictureCandidate]:
    """The pictures published fact-checks debunk, newest fact-checks first."""
    return (await session.exec(_FACT_CHECK_PICTURES, params={"limit": limit})).all()


@dataclass(frozen=True, slots=True)
class EarlierReading:
    """What reading a file found when another tip brought it: its hash, and its text (None
    when OCR did not run, empty when it ran and read nothing)."""

    image_hash: str
    ocr_text: str | None


# Every picture asks it, once or twice (storage.prepared says why it is prepared).
_EARLIER_READING = Prepared(
    select_columns(_tip.c.image_hash, _tip.c.ocr_text)
    .where(
        _tip.c.media_file_unique_id == bindparam("file"),
        _tip.c.image_hash.is_not(None),
        _tip.c.id != bindparam("excluding"),
    )
    .order_by(_tip.c.received_at.desc())
    .limit(1)
)


async def earlier_reading(
    session: AsyncSession, file_unique_id: str, *, excluding_tip_id: int
) -> EarlierReading | None:
    """The newest reading of this very file (Telegram's ``file_unique_id``) another tip got."""
    params = {"file": file_unique_id, "excluding": excluding_tip_id}
    row = await _EARLIER_READING.first(session, params)
    return EarlierReading(*row) if row is not None else None


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
