"""Queries about the outbox: messages written with the change that caused them, sent later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._upsert import insert_ignoring_conflict
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
    if session.bind is not None and session.bind.dialect.name == "postgresql":
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
