"""The tip line's tables: one SQLModel class per table, in the newsroom's words.

Telegram ids are 64-bit, so every column holding one is a BIGINT. Statuses are short
strings (checked in ``newsroom``), not native enums, so a new status needs no type migration.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from storage.types import UTCDateTime, utcnow

# Named constraints, so migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

__all__ = [
    "AuditEvent",
    "Claim",
    "ClaimAlert",
    "ClaimStatus",
    "Editor",
    "EditorRole",
    "FactCheck",
    "Feed",
    "InboundUpdate",
    "InboundUpdateStatus",
    "MatchFeedback",
    "OutboxMessage",
    "OutboxStatus",
    "Rating",
    "Reporter",
    "Subscription",
    "Tip",
]


class ClaimStatus(StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    ANSWERED = "answered"
    NOT_CHECKABLE = "not_checkable"
    REJECTED = "rejected"
    MERGED = "merged"


class Rating(StrEnum):
    FALSE = "false"
    MOSTLY_FALSE = "mostly_false"
    MIXED = "mixed"
    MOSTLY_TRUE = "mostly_true"
    TRUE = "true"
    MISLEADING = "misleading"
    MISSING_CONTEXT = "missing_context"
    SATIRE = "satire"
    UNPROVEN = "unproven"
    OTHER = "other"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class InboundUpdateStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class EditorRole(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


def _telegram_id(*, nullable: bool = True, index: bool = False, unique: bool = False) -> Any:
    return Field(
        default=None,
        sa_column_kwargs={"nullable": nullable},
        sa_type=sa.BigInteger,
        index=index,
        unique=unique,
    )


def _timestamp(*, index: bool = False, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, index=index, nullable=True)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, index=index, nullable=False)


class Reporter(SQLModel, table=True):
    """A member of the public who sent at least one tip: their Telegram id and nothing more."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=sa.BigInteger, unique=True, nullable=False)
    language: str | None = Field(default=None, max_length=16)
    first_seen_at: datetime = _timestamp()
    last_seen_at: datetime = _timestamp()
    blocked_bot: bool = Field(default=False, nullable=False)


class FactCheck(SQLModel, table=True):
    """A published debunk; the tip line cites it, it is the authority."""

    __tablename__ = "fact_check"
    # The keys the matching indexes follow (storage.vectors.changes_since).
    __table_args__ = (sa.Index("ix_fact_check_follow", "updated_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2048, unique=True, nullable=False)
    claim_reviewed: str = Field(sa_type=sa.Text, nullable=False)
    headline: str | None = Field(default=None, sa_type=sa.Text)
    publisher: str | None = Field(default=None, max_length=255)
    rating: str = Field(default=Rating.OTHER, max_length=20, nullable=False, index=True)
    rating_text: str | None = Field(default=None, max_length=255)
    language: str | None = Field(default=None, max_length=16, index=True)
    published_at: datetime | None = _timestamp(nullable=True)
    author: str | None = Field(default=None, max_length=255)
    summary: str | None = Field(default=None, sa_type=sa.Text)
    image_url: str | None = Field(default=None, max_length=2048)
    # Perceptual hash of the debunked picture at image_url: a forward of it gets the verdict.
    image_hash: str | None = Field(default=None, max_length=96, index=True)
    source: str | None = Field(default=None, max_length=2048)
    extracted: bool = Field(default=False, nullable=False)
    needs_review: bool = Field(default=False, nullable=False)
    content_hash: str | None = Field(default=None, max_length=64)
    embedding: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    embedding_model: str | None = Field(default=None, max_length=64)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Editor(SQLModel, table=True):
    """A newsroom member who may act on claims (dashboard login and/or Telegram id)."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, nullable=False)
    password_hash: str | None = Field(default=None, max_length=255)
    telegram_user_id: int | None = _telegram_id(unique=True)
    role: str = Field(default=EditorRole.EDITOR, max_length=16, nullable=False)
    active: bool = Field(default=True, nullable=False)
    failed_logins: int = Field(default=0, nullable=False)
    locked_until: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()


class Claim(SQLModel, table=True):
    """A cluster of tips that assert the same thing, whatever their wording or language."""

    __table_args__ = (sa.Index("ix_claim_follow", "updated_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    canonical_text: str = Field(sa_type=sa.Text, nullable=False)
    language: str | None = Field(default=None, max_length=16, index=True)
    languages: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    status: str = Field(default=ClaimStatus.NEW, max_length=20, nullable=False, index=True)
    tip_count: int = Field(default=0, nullable=False)
    reporter_count: int = Field(default=0, nullable=False)
    first_seen_at: datetime = _timestamp()
    last_seen_at: datetime = _timestamp(index=True)
    priority: float = Field(default=0.0, nullable=False, index=True)
    content_hash: str | None = Field(default=None, max_length=64, index=True)
    simhash: int | None = Field(default=None, sa_type=sa.BigInteger)
    embedding: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    embedding_model: str | None = Field(default=None, max_length=64)
    assignee_id: int | None = Field(
        default=None, foreign_key="editor.id", ondelete="SET NULL", index=True
    )
    merged_into_id: int | None = Field(
        default=None, foreign_key="claim.id", ondelete="SET NULL", index=True
    )
    fact_check_id: int | None = Field(
        default=None, foreign_key="fact_check.id", ondelete="SET NULL", index=True
    )
    suggested_fact_check_id: int | None = Field(
        default=None, foreign_key="fact_check.id", ondelete="SET NULL"
    )
    suggested_score: float | None = None
    status_reason: str | None = Field(default=None, sa_type=sa.Text)
    answered_at: datetime | None = _timestamp(nullable=True)
    updated_at: datetime = _timestamp()


class Tip(SQLModel, table=True):
    """One forward from one member of the public, recorded exactly once."""

    __table_args__ = (
        sa.UniqueConstraint("chat_id", "message_id"),
        # The newest tip with this text (or file) first: intake reads one row, however many
        # thousand forwards of a viral rumour there are (storage.tips.claim_with_same_text).
        sa.Index("ix_tip_content_hash_received", "content_hash", "received_at"),
        sa.Index("ix_tip_media_received", "media_file_unique_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reporter_id: int | None = Field(
        default=None, foreign_key="reporter.id", ondelete="SET NULL", index=True
    )
    chat_id: int | None = _telegram_id()
    message_id: int | None = _telegram_id()
    update_id: int | None = _telegram_id(unique=True)
    received_at: datetime = _timestamp(index=True)
    text: str = Field(default="", sa_type=sa.Text, nullable=False)
    normalized_text: str = Field(default="", sa_type=sa.Text, nullable=False)
    language: str | None = Field(default=None, max_length=16)
    content_hash: str | None = Field(default=None, max_length=64)
    simhash: int | None = Field(default=None, sa_type=sa.BigInteger)
    links: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    media_kind: str | None = Field(default=None, max_length=20)
    media_file_id: str | None = Field(default=None, max_length=255)
    media_file_unique_id: str | None = Field(default=None, max_length=64)
    # What Tesseract read in the picture, and its perceptual hash (matching/images.py).
    ocr_text: str | None = Field(default=None, sa_type=sa.Text)
    image_hash: str | None = Field(default=None, max_length=96, index=True)
    forward_origin_type: str | None = Field(default=None, max_length=20)
    forward_chat_id: int | None = _telegram_id()
    forward_title: str | None = Field(default=None, max_length=255)
    forward_username: str | None = Field(default=None, max_length=64)
    forward_message_id: int | None = _telegram_id()
    forward_date: datetime | None = _timestamp(nullable=True)
    claim_id: int | None = Field(
        default=None, foreign_key="claim.id", ondelete="SET NULL", index=True
    )
    # The claim the sender was asked whether their post is the same as ("ask_claim").
    asked_claim_id: int | None = Field(default=None, foreign_key="claim.id", ondelete="SET NULL")
    match_score: float | None = None
    reply_kind: str | None = Field(default=None, max_length=20)
    # When the answer reached Telegram: a redelivered update without it is answered again.
    reply_sent_at: datetime | None = _timestamp(nullable=True)
    fact_check_id: int | None = Field(
        default=None, foreign_key="fact_check.id", ondelete="SET NULL"
    )


class Subscription(SQLModel, table=True):
    """A reporter waits for the newsroom's verdict on a claim."""

    __table_args__ = (sa.UniqueConstraint("reporter_id", "claim_id"),)

    id: int | None = Field(default=None, primary_key=True)
    reporter_id: int = Field(foreign_key="reporter.id", ondelete="CASCADE", nullable=False)
    claim_id: int = Field(foreign_key="claim.id", ondelete="CASCADE", nullable=False, index=True)
    created_at: datetime = _timestamp()
    notified_at: datetime | None = _timestamp(nullable=True)


class OutboxMessage(SQLModel, table=True):
    """A message to send later, written in the same transaction as what caused it."""

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    reporter_id: int | None = Field(
        default=None, foreign_key="reporter.id", ondelete="CASCADE", index=True
    )
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime = _timestamp()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    dedupe_key: str = Field(max_length=255, unique=True, nullable=False)
    created_at: datetime = _timestamp()
    sent_at: datetime | None = _timestamp(nullable=True)


class AuditEvent(SQLModel, table=True):
    """Who did what to which claim, when and from where: the desk's memory."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _timestamp(index=True)
    editor_id: int | None = Field(default=None, foreign_key="editor.id", ondelete="SET NULL")
    actor: str = Field(max_length=128, nullable=False)
    action: str = Field(max_length=32, nullable=False)
    claim_id: int | None = Field(
        default=None, foreign_key="claim.id", ondelete="SET NULL", index=True
    )
    source: str = Field(max_length=16, nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)


class MatchFeedback(SQLModel, table=True):
    """A sender's yes/no on a suggested fact-check: evidence for calibrating thresholds."""

    __tablename__ = "match_feedback"

    id: int | None = Field(default=None, primary_key=True)
    tip_id: int | None = Field(default=None, foreign_key="tip.id", ondelete="SET NULL", index=True)
    fact_check_id: int = Field(foreign_key="fact_check.id", ondelete="CASCADE", nullable=False)
    score: float | None = None
    confirmed: bool = Field(nullable=False)
    created_at: datetime = _timestamp()


class Feed(SQLModel, table=True):
    """A configured source of fact-checks and how its last sync went."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2048, unique=True, nullable=False)
    last_attempt_at: datetime | None = _timestamp(nullable=True)
    last_success_at: datetime | None = _timestamp(nullable=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    etag: str | None = Field(default=None, max_length=255)
    last_modified: str | None = Field(default=None, max_length=64)


class InboundUpdate(SQLModel, table=True):
    """A Telegram update, written before it is acknowledged and processed from here.

    Telegram redelivers what was not acknowledged, and we acknowledge only after this row is
    committed, so a crash loses nothing. The payload (message text, user ids) is cleared as
    soon as the update is processed; the row itself stays briefly to drop redeliveries.
    ``answer`` is the Bot API call a webhook response carried (the sender's reply): a
    redelivery means Telegram did not get that response, so it gets the same answer again.
    """

    __tablename__ = "inbound_update"

    update_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    payload: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))
    status: str = Field(
        default=InboundUpdateStatus.PENDING, max_length=16, nullable=False, index=True
    )
    received_at: datetime = _timestamp()
    leased_until: datetime | None = _timestamp(nullable=True)
    attempts: int = Field(default=0, nullable=False)
    processed_at: datetime | None = _timestamp(nullable=True, index=True)
    answer: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))


class ClaimAlert(SQLModel, table=True):
    """The newsroom group's message about a claim: edited in place as its counts grow.

    The row is inserted before the message is sent, so of several workers only one
    announces a claim; ``message_id`` stays empty until Telegram has accepted it.
    """

    __tablename__ = "claim_alert"

    claim_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("claim.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    chat_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    message_id: int | None = _telegram_id()
    shown_tip_count: int = Field(default=0, nullable=False)
    shown_reporter_count: int = Field(default=0, nullable=False)
    shown_status: str = Field(default=ClaimStatus.NEW, max_length=20, nullable=False)
    announced_at: datetime = _timestamp()
    edited_at: datetime = _timestamp()
    trending_at: datetime | None = _timestamp(nullable=True)
