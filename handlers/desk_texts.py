"""What editors read in the newsroom group: alerts, the queue, a claim, confirmations.

The desk speaks the newsroom's working language (English). Everything that came from a
sender, a channel or a fact-check is shortened, then escaped (HTML parse mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.replies import shorten
from newsroom.alerts import ClaimAlertView, ForwardSource, TrendingAlert
from newsroom.desk import OPEN_STATUSES, ClaimDetail, ClaimSummary, VerdictResult

_ALERT_QUOTE = 500
_QUEUE_QUOTE = 90
_STATUS_ICON = {
    "new": "🆕",
    "in_review": "🔎",
    "answered": "✅",
    "not_checkable": "🤷",
    "rejected": "🚫",
    "merged": "🔗",
}

USAGE = {
    "claim": "Usage: /claim N",
    "assign": "Usage: /assign N",
    "verdict": "Usage: /verdict N URL (the fact-check's address)",
    "merge": "Usage: /merge N M (merges claim N into claim M)",
    "reject": "Usage: /reject N reason",
    "reopen": "Usage: /reopen N",
}


def _people(count: int) -> str:
    return f"{count} person" if count == 1 else f"{count} people"


def _forwards(count: int) -> str:
    return f"{count} forward" if count == 1 else f"{count} forwards"


def _source(source: ForwardSource) -> str:
    if source.kind in ("user", "hidden_user"):
        name = "private accounts"
    else:
        name = escape(shorten(source.title or "a chat", 60))
        if source.username:
            name += f" (@{escape(source.username)})"
    return f"{name} ×{source.forwards}"


def _headline(claim: ClaimSummary) -> str:
    icon = _STATUS_ICON.get(claim.status, "•")
    languages = ", ".join(claim.languages) or claim.language or "?"
    return f"{icon} <b>Claim #{claim.id}</b> · {escape(languages)} · {escape(claim.status)}"


def _counts(claim: ClaimSummary) -> str:
    line = f"📨 {_forwards(claim.tip_count)} from {_people(claim.reporter_count)}"
    if claim.growth_per_hour:
        line += f" · +{claim.growth_per_hour} in the last hour"
    return line


def alert_text(view: ClaimAlertView) -> str:
    """A claim as announced to the group; edited in place as its counts change."""
    claim = view.claim
    lines = [
        _headline(claim),
        f"<blockquote>{escape(shorten(claim.canonical_text, _ALERT_QUOTE))}</blockquote>",
        _counts(claim),
    ]
    if view.sources:
        lines.append("📣 From: " + ", ".join(_source(s) for s in view.sources))
    if claim.has_media:
        lines.append("🖼 with a picture, video or file")
    if claim.status_reason:
        lines.append(f"Reason: {escape(shorten(claim.status_reason, 200))}")
    if claim.merged_into_id:
        lines.append(f"Merged into claim #{claim.merged_into_id}")
    return "\n".join(lines)


def trending_text(alert: TrendingAlert) -> str:
    claim = alert.view.claim
    return "\n".join(
        [
            f"📈 <b>Trending: claim #{claim.id}</b> · {alert.forwards_per_hour} forwards per hour",
            f"<blockquote>{escape(shorten(claim.canonical_text, 200))}</blockquote>",
            _counts(claim),
        ]
    )


def claim_buttons(claim: ClaimSummary) -> InlineKeyboardMarkup | None:
    """The actions an editor can take on the claim in its current status."""
    n = claim.id
    if claim.status in OPEN_STATUSES:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Assign to me", callback_data=f"desk:assign:{n}"),
                    InlineKeyboardButton("Not checkable", callback_data=f"desk:nc:{n}"),
                ],
                [
                    InlineKeyboardButton("Reject", callback_data=f"desk:reject:{n}"),
                    InlineKeyboardButton("Merge into…", callback_data=f"desk:merge:{n}"),
                ],
                [InlineKeyboardButton("Attach fact-check", callback_data=f"desk:verdict:{n}")],
            ]
        )
    if claim.status == "merged":
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("Reopen", callback_data=f"desk:reopen:{n}")]]
    )


def queue_text(claims: Sequence[ClaimSummary], language: str | None) -> str:
    where = f" in {escape(language)}" if language else ""
    if not claims:
        return f"No open claims{where}. 🎉"
    lines = [f"<b>Open claims{where}</b>, most urgent first:"]
    for claim in claims:
        growth = f", +{claim.growth_per_hour}/h" if claim.growth_per_hour else ""
        assignee = f", {escape(claim.assignee)}" if claim.assignee else ""
        lines.append(
            f"#{claim.id} · {escape(claim.language or '?')} · "
            f"{_people(claim.reporter_count)}{growth}{assignee} — "
            f"{escape(shorten(claim.canonical_text, _QUEUE_QUOTE))}"
        )
    lines.append("/claim N for details.")
    return "\n".join(lines)


def claim_text(detail: ClaimDetail) -> str:
    """A claim in full for editors: wordings, sources, answer or suggestion, history."""
    claim = detail.claim
    lines = [
        _headline(claim),
        f"<blockquote>{escape(shorten(claim.canonical_text, _ALERT_QUOTE))}</blockquote>",
        _counts(claim) + f" · {detail.subscriber_count} waiting for a verdict",
    ]
    if claim.assignee:
        lines.append(f"Assigned to {escape(claim.assignee)}")
    others = [t for t in detail.tips if t.text and t.text != claim.canonical_text][:3]
    for tip in others:
        lines.append(f"• {escape(tip.language or '?')}: {escape(shorten(tip.text, 160))}")
    channels = {t.forward_title for t in detail.tips if t.forward_title}
    if channels:
        lines.append("📣 From: " + ", ".join(escape(shorten(c, 60)) for c in sorted(channels)))
    if detail.fact_check:
        lines.append(f"✅ Answered: {escape(detail.fact_check.url)}")
    for suggestion in detail.suggestions:
        score = f" (score {suggestion.score:.2f})" if suggestion.score is not None else ""
        lines.append(f"💡 Possible answer{score}: {escape(suggestion.url)}")
    if detail.merged_claim_ids:
        merged = ", ".join(f"#{i}" for i in detail.merged_claim_ids)
        lines.append(f"Merged into this: {merged}")
    for event in detail.audit[-5:]:
        lines.append(
            f"🕓 {event.at:%Y-%m-%d %H:%M} {escape(event.actor)} ({escape(event.source)}): "
            f"{escape(event.action)}"
        )
    return "\n".join(lines)


def done_text(claim_id: int, action: str, status: str) -> str:
    return f"Claim #{claim_id}: {escape(action)} (now {escape(status)})."


def verdict_text(result: VerdictResult, url: str) -> str:
    lines = [f"✅ Claim #{result.claim_id} answered with {escape(url)}."]
    lines.append(f"{_people(result.notifications)} will be notified.")
    if result.skipped_blocked:
        lines.append(f"{_people(result.skipped_blocked)} blocked the bot and are skipped.")
    return "\n".join(lines)


def merge_prompt(claim_id: int) -> str:
    return f"Send /merge {claim_id} M to merge claim #{claim_id} into claim M."


def verdict_prompt(detail: ClaimDetail) -> str:
    n = detail.claim.id
    lines = [f"Send /verdict {n} URL with the fact-check's address (imported if new)."]
    for suggestion in detail.suggestions:
        lines.append(f"💡 Possible answer: /verdict {n} {escape(suggestion.url)}")
    return "\n".join(lines)


def stats_text(stats: dict[str, Any]) -> str:
    claims = ", ".join(f"{k} {v}" for k, v in stats["claims"].items())
    outbox = ", ".join(f"{k} {v}" for k, v in stats["outbox"].items())
    return "\n".join(
        [
            "<b>Tip line</b>",
            f"Tips: {stats['tips']} from {_people(stats['reporters'])}",
            f"Claims: {escape(claims)}",
            f"Fact-checks: {stats['fact_checks']}",
            f"Waiting for a verdict: {stats['subscriptions']}",
            f"Outbox: {escape(outbox)}",
        ]
    )
