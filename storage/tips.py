"""Queries about tips: each forward recorded once, however often Telegram delivers it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, inspect, or_, update
from sqlalchemy import select as select_columns
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import dialect_of, insert_in
from storage.claims import CLAIM_STATE
from storage.factchecks import CITED_FACT_CHECK
from storage.models import Claim, ClaimStatus, FactCheck, Tip
from storage.prepared import Columns, Prepared

# Statements every forward runs, built on the table and run beside the session's layers
# (storage.prepared says why). A new tip comes back as columns, made a Tip here.
_tip = Tip.__table__
_TIP_CLASS = Tip.__mapper__.class_manager
_MARK_REPLY_SENT = Prepared(
    update(_tip).where(_tip.c.id == bindparam("tip")).values(reply_sent_at=bindparam("at"))
)


@functools.cache
def _update_tip(columns: tuple[str, ...]) -> Prepared:
    values = {name: bindparam(f"new_{name}") for name in columns}
    return Prepared(update(_tip).where(_tip.c.id == bindparam("tip_id")).values(values))


@functools.cache
def _recording(dialect: str) -> Prepared:
    return Prepared(insert_in(dialect)(_tip).on_conflict_do_nothing().returning(*_tip.columns))


def _loaded_tip(row: Columns) -> Tip:
    """A tip from its columns, built as the ORM builds one it loads; not in the session."""
    tip = _TIP_CLASS.new_instance()
    inspect(tip).dict.update(row._asdict())
    return tip


async def record_tip(session: AsyncSession, **fields: Any) -> tuple[Tip, bool]:
    """Store a tip unless this chat message (or update) is already stored.

    Returns the stored tip and whether this call created it: Telegram redelivers updates
    after timeouts and crashes, and a redelivery must not count as a second forward.
    """
    created = await _recording(dialect_of(session)).first(session, fields)
    if created is not None:
        return _loaded_tip(created), True
    same_message = (Tip.chat_id == fields.get("chat_id")) & (
        Tip.message_id == fields.get("message_id")
    )
    conditions = [same_message]
    if fields.get("update_id") is not None:
        conditions.append(Tip.update_id == fields["update_id"])
    # A conflicting insert implies the tip exists, so .one() cannot miss.
    return (await session.exec(select(Tip).where(or_(*conditions)))).one(), False


async def get_tip(session: AsyncSession, tip_id: int) -> Tip | None:
    return await session.get(Tip, tip_id)


async def update_tip(session: AsyncSession, tip: Tip, **fields: Any) -> Tip:
    """Change these columns of a stored tip, and the tip object to match.

    One UPDATE on the table rather than the ORM's flush, which cost three times the CPU; every
    forward changes its tip once or twice (docs/BENCHMARKS.md).
    """
    statement = _update_tip(tuple(sorted(fields)))
    params = {"tip_id": tip.id} | {f"new_{name}": value for name, value in fields.items()}
    await statement.run(session, params)
    for name, value in fields.items():
        set_committed_value(tip, name, value)
    return tip


async def mark_reply_sent(session: AsyncSession, tip_id: int, *, at: datetime) -> None:
    """One statement, so the answer is recorded as soon after it went out as can be."""
    await mark_replies_sent(session, [tip_id], at=at)


async def mark_replies_sent(session: AsyncSession, tip_ids: Sequence[int], *, at: datetime) -> None:
    for tip_id in tip_ids:  # nearly always one: a statement each costs less than an IN list
        await _MARK_REPLY_SENT.run(session, {"tip": tip_id, "at": at})


async def tips_of_claims(
    session: AsyncSession, claim_ids: Sequence[int], *, limit: int = 100
) -> list[Tip]:
    statement = (
        select(Tip)
        .where(col(Tip.claim_id).in_(claim_ids))
        .order_by(col(Tip.received_at).desc())
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def text_is_public(session: AsyncSession, claim: Claim, *, senders: int) -> bool:
    """Whether a claim's own text may be shown to someone else who sent something like it.

    Only a text that circulates: forwarded from a public channel, or sent word for word by at
    least ``senders`` people. One person's wording may say something about them.
    """
    if claim.content_hash is None:
        return False
    same_text = (col(Tip.claim_id) == claim.id) & (col(Tip.content_hash) == claim.content_hash)
    # Each stops at the first rows that answer: a viral claim has thousands of forwards.
    people = (
        select(Tip.reporter_id)
        .where(same_text, col(Tip.reporter_id).is_not(None))
        .distinct()
        .limit(senders)
    )
    if len((await session.exec(people)).all()) >= senders:
        return True
    from_public_channel = select(Tip.id).where(same_text, col(Tip.forward_username).is_not(None))
    return (await session.exec(select(from_public_channel.exists()))).one()


def _live_claim_of_tip(condition: Any) -> Any:
    claim, fact_check = Claim.__table__, FactCheck.__table__
    return (
        select_columns(*CLAIM_STATE, *CITED_FACT_CHECK)
        .join_from(claim, _tip, _tip.c.claim_id == claim.c.id)
        .outerjoin(fact_check, fact_check.c.id == claim.c.fact_check_id)
        .where(condition, claim.c.status != ClaimStatus.MERGED)
        .order_by(_tip.c.received_at.desc())
        .limit(1)
    )


_CLAIM_WITH_SAME_TEXT = Prepared(_live_claim_of_tip(_tip.c.content_hash == bindparam("hash")))
_CLAIM_WITH_SAME_MEDIA = Prepared(
    _live_claim_of_tip(_tip.c.media_file_unique_id == bindparam("file"))
)


async def claim_with_same_text(session: AsyncSession, content_hash: str) -> Columns | None:
    """The live claim an identical (normalised) text was already filed under, if any, as
    :func:`storage.claims.claim_state` gives it, with the fact-check it cites
    (:data:`storage.factchecks.CITED_FACT_CHECK`, all None if it cites none): a repeat of an
    answered rumour is answered with that fact-check, and needs no second look-up."""
    return await _CLAIM_WITH_SAME_TEXT.first(session, {"hash": content_hash})


async def claim_with_same_media(session: AsyncSession, file_unique_id: str) -> Columns | None:
    """The live claim the very same picture or video (Telegram's file_unique_id) was filed
    under, as :func:`claim_with_same_text` gives it."""
    return await _CLAIM_WITH_SAME_MEDIA.first(session, {"file": file_unique_id})
