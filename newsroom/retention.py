"""Retention: after ``TIPLINE_RETENTION_DAYS``, forget who sent the tips of closed claims.

Forwarding a rumour to journalists can be sensitive, so the link between a person and what
they sent is kept only while the newsroom may still need to write back (the claim is open)
and for the retention period after. The claims themselves, their texts and their counts stay:
they are the newsroom's record of what circulated, not of who asked. Processed Telegram
updates (kept only to recognise a redelivery, and the answer to replay to it) go after
``REDELIVERY_HORIZON``, whatever the retention period: Telegram keeps an update for 24 hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Database
from storage.inbox import forget_processed_updates
from storage.retention import unlink_senders_before
from storage.types import utcnow

__all__ = ["RetentionReport", "remove_expired_sender_links"]

log = logging.getLogger(__name__)

REDELIVERY_HORIZON = timedelta(days=2)


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass removed (counts only)."""

    cutoff: datetime
    tips_unlinked: int
    subscriptions_removed: int
    messages_removed: int
    reporters_removed: int
    updates_forgotten: int


async def remove_expired_sender_links(
    db: Database, *, retention_days: int, now: datetime | None = None
) -> RetentionReport:
    """Unlink senders from tips older than ``retention_days`` whose claim is closed.

    Safe to run in every worker at once: each statement is idempotent.
    """
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    async with db.session() as session:
        unlinked = await unlink_senders_before(session, cutoff)
        updates = await forget_processed_updates(session, older_than=now - REDELIVERY_HORIZON)
    report = RetentionReport(
        cutoff=cutoff,
        tips_unlinked=unlinked.tips,
        subscriptions_removed=unlinked.subscriptions,
        messages_removed=unlinked.messages,
        reporters_removed=unlinked.reporters,
        updates_forgotten=updates,
    )
    log.info(
        "retention (%d days): %d tips unlinked from their senders, %d subscriptions, "
        "%d delivered messages and %d inactive reporters removed; %d processed updates forgotten",
        retention_days,
        report.tips_unlinked,
        report.subscriptions_removed,
        report.messages_removed,
        report.reporters_removed,
        report.updates_forgotten,
    )
    return report
