"""The update inbox: Telegram updates recorded before they are acknowledged.

Every worker may take pending updates; a lease (``leased_until``) keeps two workers from
processing the same one, and an update whose worker died is taken again once its lease ends.
A worker renews the leases of the updates it is still processing; ``attempts`` tells its lease
from a later one, so a worker that stalled past its lease cannot renew another's. A webhook
request takes its update on arrival (:func:`take_update`) and handles it before answering.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import dialect_of, insert_for, insert_in
from storage.models import InboundUpdate, InboundUpdateStatus
from storage.prepared import Prepared
from storage.types import utcnow

__all__ = [
    "Answered",
    "LeasedUpdate",
    "Redelivered",
    "forget_processed_updates",
    "lease_pending_updates",
    "mark_updates_answered",
    "mark_updates_processed",
    "record_updates",
    "renew_leases",
    "retry_update_later",
    "take_update",
    "take_updates",
]


# Built once: every update runs them (storage._upsert says why). A processed update keeps
# its outcome and the answer its webhook response carried, not its payload.
_inbox = InboundUpdate.__table__
_PROCESSED = {
    "status": bindparam("status"),
    "payload": None,
    "leased_until": None,
    "processed_at": bindparam("at"),
    "answer": bindparam("answer"),
}
_MARK_PROCESSED = (
    update(_inbox)
    .where(_inbox.c.update_id.in_(bindparam("ids", expanding=True)))
    .values(_PROCESSED)
)
# The same for one webhook update, with its own answer.
_MARK_ANSWERED = Prepared(
    update(_inbox).where(_inbox.c.update_id == bindparam("id")).values(_PROCESSED)
)


@functools.cache
def _taking(dialect: str) -> Prepared:
    """Record an update and lease it, unless it is stored already."""
    statement = insert_in(dialect)(_inbox).on_conflict_do_nothing(index_elements=["update_id"])
    return Prepared(statement.returning(_inbox.c.update_id))


@dataclass(frozen=True)
class LeasedUpdate:
    """A recorded update taken for processing; ``attempts`` counts this one."""

    update_id: int
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Answered:
    """A webhook update handled (or given up on), with the call its 200 carries, if any."""

    update_id: int
    gave_up: bool = False
    answer: dict[str, Any] | None = None


@dataclass(frozen=True)
class Redelivered:
    """An update already processed: the Bot API call its webhook response carried, if any."""

    answer: dict[str, Any] | None


def _row(payload: dict[str, Any], now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "update_id": payload["update_id"],
        "payload": payload,
        "status": InboundUpdateStatus.PENDING,
        "received_at": now,
        "attempts": 0,
        **values,
    }


async def record_updates(session: AsyncSession, payloads: Sequence[dict[str, Any]]) -> int:
    """Store updates by ``update_id``, skipping any already stored; returns how many are new."""
    if not payloads:
        return 0
    now = utcnow()
    statement = (
        insert_for(session)(InboundUpdate.__table__)
        .values([_row(payload, now) for payload in payloads])
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(InboundUpdate.__table__.c.update_id)
    )
    return len((await session.exec(statement)).all())


async def take_updates(
    session: AsyncSession, payloads: Sequence[dict[str, Any]], *, lease: timedelta
) -> list[LeasedUpdate | Redelivered | None]:
    """Record updates and lease them to the caller, to handle them at once; one result each.

    New updates (nearly all) are recorded and leased in one statement. A redelivery gives
    what the first delivery's handling left: the update again if its lease ran out
    unprocessed (the worker died), :class:`Redelivered` if it was processed, and ``None``
    while someone else holds it (Telegram is to try again later).
    """
    if not payloads:
        return []
    now = utcnow()
    taking = _taking(dialect_of(session))
    results: list[LeasedUpdate | Redelivered | None] = []
    for payload in payloads:
        # The same update twice in a batch: the second finds the first's row, and is held.
        row = _row(payload, now, leased_until=now + lease, attempts=1)
        if await taking.first(session, row) is not None:
            results.append(LeasedUpdate(payload["update_id"], payload, 1))
        else:
            results.append(await _take_stored(session, payload, now + lease, now))
    return results


async def take_update(
    session: AsyncSession, payload: dict[str, Any], *, lease: timedelta
) -> LeasedUpdate | Redelivered | None:
    """:func:`take_updates` for one update."""
    return (await take_updates(session, [payload], lease=lease))[0]


async def _take_stored(
    session: AsyncSession, payload: dict[str, Any], until: datetime, now: datetime
) -> LeasedUpdate | Redelivered | None:
    update_id = payload["update_id"]
    taken = (
        await session.exec(
            update(InboundUpdate)
            .where(
                col(InboundUpdate.update_id) == update_id,
                col(InboundUpdate.status) == InboundUpdateStatus.PENDING,
                or_(
                    col(InboundUpdate.leased_until).is_(None),
                    col(InboundUpdate.leased_until) < now,
                ),
            )
            .values(leased_until=until, attempts=InboundUpdate.attempts + 1)
            .returning(InboundUpdate.payload, InboundUpdate.attempts)
        )
    ).first()
    if taken is not None:
        return LeasedUpdate(update_id, taken[0] or payload, taken[1])
    stored = (
        await session.exec(
            select(InboundUpdate.status, InboundUpdate.answer).where(
                col(InboundUpdate.update_id) == update_id
            )
        )
    ).first()
    if stored is None or stored[0] == InboundUpdateStatus.PENDING:
        return None
    return Redelivered(stored[1])


async def lease_pending_updates(
    session: AsyncSession,
    *,
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
    received_before: datetime | None = None,
) -> list[LeasedUpdate]:
    """Take up to ``limit`` pending updates, oldest first, for ``lease``.

    ``received_before`` leaves younger updates alone: in webhook mode Telegram redelivers
    those, and the webhook request that takes one answers it in its response.

    On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets several workers lease at once without
    waiting on or taking each other's rows. SQLite has one writer at a time, so the plain
    update is already exclusive there.
    """
    now = now or utcnow()
    due = and_(
        col(InboundUpdate.status) == InboundUpdateStatus.PENDING,
        or_(col(InboundUpdate.leased_until).is_(None), col(InboundUpdate.leased_until) < now),
    )
    if received_before is not None:
        due = and_(due, col(InboundUpdate.received_at) < received_before)
    chosen = select(InboundUpdate.update_id).where(due).order_by(InboundUpdate.update_id)
    chosen = chosen.limit(limit)
    if dialect_of(session) == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    statement = (
        update(InboundUpdate)
        .where(col(InboundUpdate.update_id).in_(chosen.scalar_subquery()))
        .values(leased_until=now + lease, attempts=InboundUpdate.attempts + 1)
        .returning(InboundUpdate.update_id, InboundUpdate.payload, InboundUpdate.attempts)
    )
    rows = (await session.exec(statement)).all()
    leased = [
        LeasedUpdate(update_id, payload or {}, attempts) for update_id, payload, attempts in rows
    ]
    return sorted(leased, key=lambda row: row.update_id)


async def renew_leases(
    session: AsyncSession, leases: Sequence[LeasedUpdate], *, until: datetime
) -> set[int]:
    """Extend leases still held; returns the ids renewed (an update another worker took since,
    or one already processed, is not)."""
    if not leases:
        return set()
    held = or_(
        *(
            and_(
                col(InboundUpdate.update_id) == lease.update_id,
                col(InboundUpdate.attempts) == lease.attempts,
            )
            for lease in leases
        )
    )
    statement = (
        update(InboundUpdate)
        .where(held, col(InboundUpdate.status) == InboundUpdateStatus.PENDING)
        .values(leased_until=until)
        .returning(InboundUpdate.update_id)
    )
    return {update_id for (update_id,) in (await session.exec(statement)).all()}


async def mark_updates_processed(
    session: AsyncSession,
    update_ids: Sequence[int],
    *,
    gave_up: bool = False,
    answer: dict[str, Any] | None = None,
) -> None:
    """Done (or given up on): the payloads (message text, user ids) are dropped at once;
    ``answer`` is what the webhook response carried, kept for a redelivery."""
    if not update_ids:
        return
    params = {
        "ids": list(update_ids),
        "status": InboundUpdateStatus.FAILED if gave_up else InboundUpdateStatus.DONE,
        "at": utcnow(),
        "answer": answer,
    }
    await session.exec(_MARK_PROCESSED, params=params)


async def mark_updates_answered(session: AsyncSession, answered: Sequence[Answered]) -> None:
    """:func:`mark_updates_processed` for webhook updates, each with its own answer."""
    if not answered:
        return
    at = utcnow()
    for done in answered:  # nearly always one: a statement each costs less than executemany
        status = InboundUpdateStatus.FAILED if done.gave_up else InboundUpdateStatus.DONE
        row = {"id": done.update_id, "status": status, "at": at, "answer": done.answer}
        await _MARK_ANSWERED.run(session, row)


async def retry_update_later(session: AsyncSession, update_id: int, *, at: datetime) -> None:
    """A transient failure (the database went away mid-update): lease it again from ``at``."""
    await session.exec(
        update(InboundUpdate)
        .where(col(InboundUpdate.update_id) == update_id)
        .values(leased_until=at)
    )


async def forget_processed_updates(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete processed rows kept only to recognise redeliveries; returns how many."""
    result = await session.exec(
        delete(InboundUpdate).where(
            col(InboundUpdate.status) != InboundUpdateStatus.PENDING,
            col(InboundUpdate.processed_at) < older_than,
        )
    )
    return result.rowcount or 0
