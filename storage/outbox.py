"""Queries about the outbox: messages written with the change that caused them, sent later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import dialect_of, insert_ignoring_conflict
from storage.models import OutboxMessage, OutboxStatus
from storage.types import utcnow


async def enqueue_message(
    session: AsyncSession,
    *,
    chat_id: int,
    payload: dict[str, Any],
    dedupe_key: str,
    reporter_id: int | None = None,
) -> bool:
    """Queue a message once per dedupe key; False if that message was already queued."""
    now = utcnow()
    created = await insert_ignoring_conflict(
        session,
        OutboxMessage,
        {
            "chat_id": chat_id,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "reporter_id": reporter_id,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
        ["dedupe_key"],
    )
    return created is not None


async def due_messages(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """Pending messages whose time has come, oldest first.

    On PostgreSQL the rows are locked with SKIP LOCKED, so several workers share the
    outbox without sending a message twice.
    """
    statement = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= (now or utcnow()),
        )
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list((await session.exec(statement)).all())


async def mark_sent(session: AsyncSession, message_id: int) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status=OutboxStatus.SENT,
            sent_at=utcnow(),
            attempts=OutboxMessage.attempts + 1,
            last_error=None,
        )
    )


async def mark_retry(
    session: AsyncSession, message_id: int, *, error: str, next_attempt_at: datetime
) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:1000],
            next_attempt_at=next_attempt_at,
        )
    )


async def mark_failed(session: AsyncSession, message_id: int, *, error: str) -> None:
    """Give up on a message for good (the user blocked the bot, or it can never be sent)."""
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status=OutboxStatus.FAILED,
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:1000],
        )
    )


async def claim_due_messages(
    session: AsyncSession, *, lease_until: datetime, now: datetime | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """Take due messages for this worker by moving them to ``lease_until``, in one statement.

    Another worker's claim sees them as not yet due; on PostgreSQL rows being claimed by
    another worker right now are skipped (SKIP LOCKED) rather than waited for. If this
    worker dies while sending, the lease runs out and the messages are due again.
    """
    now = now or utcnow()
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(due.scalar_subquery()),
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .values(next_attempt_at=lease_until)
        .returning(OutboxMessage.id)
    )
    ids = list(claimed.scalars().all())
    if not ids:
        return []
    statement = (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        .execution_options(populate_existing=True)
    )
    return list((await session.exec(statement)).all())


async def defer_message(
    session: AsyncSession, message_id: int, *, next_attempt_at: datetime, error: str
) -> None:
    """Try again later without counting an attempt: Telegram asked us to slow down."""
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(next_attempt_at=next_attempt_at, last_error=error[:1000])
    )


async def cancel_pending_for_chat(session: AsyncSession, chat_id: int, *, reason: str) -> int:
    """Cancel every message still waiting for this chat (its owner blocked the bot)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.CANCELLED, last_error=reason[:1000])
    )
    return result.rowcount or 0
