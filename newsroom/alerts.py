"""Which claims the newsroom group should hear about: new ones, grown ones, trending ones.

Alerts are produced in rounds (every few seconds), not per forward: a burst of forwards of
one rumour makes one alert, whose counts are then edited in place at most once per
``AlertPolicy.edit_every``. A claim whose forwards accelerate is re-announced once as
trending. Every choice is reserved in the database first, so several workers never announce
the same thing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from newsroom.desk import OPEN_STATUSES, ClaimSummary, summarize_claim
from storage import alerts, claims
from storage.db import Database
from storage.models import Claim
from storage.types import utcnow

__all__ = [
    "AlertPolicy",
    "ClaimAlertView",
    "ForwardSource",
    "TrendingAlert",
    "alert_failed",
    "alert_sent",
    "alert_view",
    "alerts_to_refresh",
    "new_alerts",
    "trending_alerts",
]


@dataclass(frozen=True)
class AlertPolicy:
    """How chatty the alerts are."""

    # Claims older than this when the desk first looks are not announced (e.g. at first start).
    lookback: timedelta = timedelta(hours=24)
    edit_every: timedelta = timedelta(seconds=30)
    per_round: int = 20
    # Trending: at least this many forwards in the last hour, and this many times the hour before.
    trending_per_hour: int = 20
    trending_factor: float = 2.0


@dataclass(frozen=True)
class ForwardSource:
    """A place the claim's forwards came from: a public channel or group, or private people."""

    kind: str
    title: str | None
    username: str | None
    forwards: int


@dataclass(frozen=True)
class ClaimAlertView:
    """What an alert shows, and which message it is (None until sent)."""

    claim: ClaimSummary
    sources: tuple[ForwardSource, ...]
    chat_id: int
    message_id: int | None


@dataclass(frozen=True)
class TrendingAlert:
    view: ClaimAlertView
    forwards_per_hour: int


async def _view(
    session: AsyncSession, claim: Claim, chat_id: int, message_id: int | None, now: datetime
) -> ClaimAlertView:
    growth = await claims.tips_per_claim_since(session, [claim.id or 0], now - timedelta(hours=1))
    sources = await alerts.forward_sources(session, claim.id or 0)
    has_media = await claims.claim_has_media(session, claim.id or 0)
    return ClaimAlertView(
        claim=summarize_claim(
            claim, assignee=None, has_media=has_media, growth=growth.get(claim.id or 0, 0), now=now
        ),
        sources=tuple(ForwardSource(*source) for source in sources),
        chat_id=chat_id,
        message_id=message_id,
    )


async def new_alerts(
    db: Database, chat_id: int, policy: AlertPolicy | None = None
) -> list[ClaimAlertView]:
    """Claims to announce now, each reserved for this caller (send, then ``alert_sent``)."""
    policy = policy or AlertPolicy()
    now = utcnow()
    async with db.session() as session:
        fresh = await alerts.unannounced_claims(
            session, statuses=OPEN_STATUSES, since=now - policy.lookback, limit=policy.per_round
        )
        reserved = [
            claim for claim in fresh if await alerts.reserve_alert(session, claim, chat_id, now)
        ]
        return [await _view(session, claim, chat_id, None, now) for claim in reserved]


async def alert_sent(db: Database, claim_id: int, message_id: int) -> None:
    async with db.session() as session:
        await alerts.set_alert_message(session, claim_id, message_id)


async def alert_failed(db: Database, claim_id: int) -> None:
    """The alert could not be sent: release it, the next round tries again."""
    async with db.session() as session:
        await alerts.drop_alert(session, claim_id)


async def alerts_to_refresh(
    db: Database, chat_id: int, policy: AlertPolicy | None = None
) -> list[ClaimAlertView]:
    """Sent alerts whose counts or status changed, each reserved for this caller to edit."""
    policy = policy or AlertPolicy()
    now = utcnow()
    async with db.session() as session:
        stale = await alerts.stale_alerts(
            session, chat_id, edited_before=now - policy.edit_every, limit=policy.per_round
        )
        views = []
        for alert, claim in stale:
            if await alerts.reserve_edit(session, alert, claim, now):
                views.append(await _view(session, claim, chat_id, alert.message_id, now))
        return views


async def alert_view(db: Database, claim_id: int) -> ClaimAlertView | None:
    """The current view of a claim's sent alert (after an editor acted on it), if any."""
    now = utcnow()
    async with db.session() as session:
        alert = await alerts.get_alert(session, claim_id)
        claim = await claims.get_claim(session, claim_id)
        if alert is None or alert.message_id is None or claim is None:
            return None
        await alerts.reserve_edit(session, alert, claim, now)
        return await _view(session, claim, alert.chat_id, alert.message_id, now)


def is_trending(last_hour: int, hour_before: int, policy: AlertPolicy) -> bool:
    """Forwards accelerate: many in the last hour, and clearly more than in the hour before."""
    return (
        last_hour >= policy.trending_per_hour and last_hour >= policy.trending_factor * hour_before
    )


async def trending_alerts(
    db: Database, chat_id: int, policy: AlertPolicy | None = None
) -> list[TrendingAlert]:
    """Announced claims that started trending, each reserved: re-announced once only."""
    policy = policy or AlertPolicy()
    now = utcnow()
    hour = timedelta(hours=1)
    async with db.session() as session:
        candidates = await alerts.trending_candidates(session, chat_id, statuses=OPEN_STATUSES)
        ids = [claim.id or 0 for _, claim in candidates]
        last_hour = await claims.tips_per_claim_since(session, ids, now - hour)
        hour_before = await claims.tips_per_claim_since(session, ids, now - 2 * hour, now - hour)
        found = []
        for alert, claim in candidates:
            rate, before = last_hour.get(claim.id or 0, 0), hour_before.get(claim.id or 0, 0)
            if not is_trending(rate, before, policy):
                continue
            if await alerts.reserve_trending(session, claim.id or 0, now):
                view = await _view(session, claim, chat_id, alert.message_id, now)
                found.append(TrendingAlert(view=view, forwards_per_hour=rate))
        return found
