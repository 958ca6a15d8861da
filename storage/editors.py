"""Queries about editors and the audit trail of what they did."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, Editor, EditorRole


class EditorExistsError(Exception):
    """An editor with this username (or Telegram id) is already registered."""


async def add_editor(
    session: AsyncSession,
    *,
    username: str,
    password_hash: str | None,
    role: EditorRole = EditorRole.EDITOR,
    telegram_user_id: int | None = None,
) -> Editor:
    taken = select(Editor.id).where(Editor.username == username)
    if telegram_user_id is not None:
        taken = select(Editor.id).where(
            (Editor.username == username) | (Editor.telegram_user_id == telegram_user_id)
        )
    if (await session.exec(taken)).first() is not None:
        raise EditorExistsError(username)
    editor = Editor(
        username=username,
        password_hash=password_hash,
        role=role,
        telegram_user_id=telegram_user_id,
    )
    session.add(editor)
    await session.flush()
    return editor


async def get_editor_by_username(session: AsyncSession, username: str) -> Editor | None:
    return (await session.exec(select(Editor).where(Editor.username == username))).first()


async def get_editor_by_telegram_id(session: AsyncSession, telegram_user_id: int) -> Editor | None:
    statement = select(Editor).where(
        Editor.telegram_user_id == telegram_user_id, col(Editor.active).is_(True)
    )
    return (await session.exec(statement)).first()


async def record_audit_event(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    source: str,
    claim_id: int | None = None,
    editor_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        source=source,
        claim_id=claim_id,
        editor_id=editor_id,
        detail=detail or {},
    )
    session.add(event)
    await session.flush()
    return event


async def audit_trail(session: AsyncSession, claim_id: int) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.claim_id == claim_id)
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )
    return list((await session.exec(statement)).all())
