"""The newsroom desk in Telegram: claim alerts in the editors' group, commands and buttons.

Only editors (``TIPLINE_EDITOR_TELEGRAM_IDS``, or Editor rows with a Telegram id) may use
the desk; anyone else, in any chat, gets a polite refusal and nothing else. Every action is
a ``newsroom.desk`` function, the same the dashboard calls.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape, unescape

from telegram import Bot, ReplyParameters, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from handlers import desk_texts as texts
from handlers.common import HTML, newsroom_of, translator_for
from handlers.replies import editors_only
from newsroom import alerts
from newsroom.desk import (
    Actor,
    DeskError,
    FactCheckNotFoundError,
    assign_claim,
    attach_fact_check,
    claim_detail,
    desk_stats,
    editor_for_telegram,
    fact_check_by_url,
    list_queue,
    mark_not_checkable,
    merge_claims,
    reject_claim,
    reopen_claim,
)
from newsroom.factchecks import import_sources
from newsroom.fetch import Fetcher
from storage.db import Database

__all__ = ["COMMANDS", "DESK_KEY", "DeskConfig", "announce_claims", "button"]

log = logging.getLogger(__name__)

DESK_KEY = "desk"

DeskCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE, Actor], Awaitable[None]]


@dataclass(frozen=True)
class DeskConfig:
    """Who is on the desk and where it sits; built from the settings by ``bot/``."""

    editor_ids: frozenset[int] = frozenset()
    newsroom_chat_id: int | None = None
    allow_private_urls: bool = False
    alert_policy: alerts.AlertPolicy = field(default_factory=alerts.AlertPolicy)


def _config(context: ContextTypes.DEFAULT_TYPE) -> DeskConfig:
    return context.application.bot_data.get(DESK_KEY) or DeskConfig()


def _editors_only(callback: DeskCallback) -> Callable[..., Awaitable[None]]:
    """Find the acting editor; refuse anyone else politely; turn desk errors into replies."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, db = update.effective_user, newsroom_of(context).db
        editor_ids = _config(context).editor_ids
        actor = await editor_for_telegram(db, user.id, editor_ids) if user else None
        if actor is None:
            await _tell(update, editors_only(await translator_for(update, context)))
            return
        try:
            await callback(update, context, actor)
        except DeskError as exc:
            await _tell(update, escape(str(exc)))

    return guarded


async def _tell(update: Update, text: str) -> None:
    """Answer a button press with a pop-up, a command with a message."""
    if update.callback_query is not None:
        await update.callback_query.answer(unescape(text)[:200], show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text, **HTML)


def _claim_args(context: ContextTypes.DEFAULT_TYPE, count: int, usage: str) -> list[int]:
    """The first ``count`` arguments as claim numbers ("12" or "#12"), or the usage text."""
    args = context.args or []
    try:
        numbers = [int(arg.lstrip("#")) for arg in args[:count]]
    except ValueError:
        numbers = []
    if len(numbers) < count:
        raise DeskError(texts.USAGE[usage])
    return numbers


async def refresh_alert(bot: Bot, db: Database, claim_id: int) -> None:
    """Show a claim's new status on its alert in the group, if it has one."""
    view = await alerts.alert_view(db, claim_id)
    if view is not None and view.message_id is not None:
        await _edit_alert(bot, view)


async def _edit_alert(bot: Bot, view: alerts.ClaimAlertView) -> None:
    try:
        await bot.edit_message_text(
            texts.alert_text(view),
            chat_id=view.chat_id,
            message_id=view.message_id,
            reply_markup=texts.claim_buttons(view.claim),
            **HTML,
        )
    except BadRequest as exc:
        if "not modified" not in str(exc):
            log.warning("alert of claim %s could not be edited: %s", view.claim.id, exc)


# --- Commands -------------------------------------------------------------------------------


@_editors_only
async def queue(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/queue [lang]: the open claims, most urgent first."""
    language = (context.args or [None])[0]
    claims = await list_queue(newsroom_of(context).db, language=language, limit=10)
    await update.effective_message.reply_text(texts.queue_text(claims, language), **HTML)


@_editors_only
async def claim(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/claim N: one claim in full, with its buttons."""
    [claim_id] = _claim_args(context, 1, "claim")
    detail = await claim_detail(newsroom_of(context).db, claim_id)
    await update.effective_message.reply_text(
        texts.claim_text(detail), reply_markup=texts.claim_buttons(detail.claim), **HTML
    )


@_editors_only
async def assign(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/assign N: the claim is in review with the editor who sent it."""
    [claim_id] = _claim_args(context, 1, "assign")
    db = newsroom_of(context).db
    changed = await assign_claim(db, actor, claim_id)
    await update.effective_message.reply_text(
        texts.done_text(claim_id, f"assigned to {actor.name}", changed.status), **HTML
    )
    await refresh_alert(context.bot, db, claim_id)


async def _fact_check_id(db: Database, url: str, allow_private: bool) -> int:
    """An imported fact-check's id by URL, importing the page first if it is new."""
    known = await fact_check_by_url(db, url)
    if known is not None:
        return known.id
    async with Fetcher(allow_private=allow_private) as fetcher:
        report = await import_sources(db, [url], fetcher=fetcher)
    known = await fact_check_by_url(db, url)
    if known is not None:
        return known.id
    if report.fact_check_ids:
        return report.fact_check_ids[0]
    reason = report.rejected[0][1] if report.rejected else "no fact-check found on that page"
    raise FactCheckNotFoundError(f"Could not import {url}: {reason}")


@_editors_only
async def verdict(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/verdict N URL: answer the claim with that fact-check; its senders will be told."""
    [claim_id] = _claim_args(context, 1, "verdict")
    if len(context.args or []) < 2:
        raise DeskError(texts.USAGE["verdict"])
    url = context.args[1]
    db = newsroom_of(context).db
    fact_check_id = await _fact_check_id(db, url, _config(context).allow_private_urls)
    result = await attach_fact_check(db, actor, claim_id, fact_check_id)
    await update.effective_message.reply_text(texts.verdict_text(result, url), **HTML)
    await refresh_alert(context.bot, db, claim_id)


@_editors_only
async def merge(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/merge N M: claim N joins claim M, with its tips and the senders waiting on it."""
    claim_id, into_id = _claim_args(context, 2, "merge")
    db = newsroom_of(context).db
    target = await merge_claims(db, actor, claim_id, into_id)
    await update.effective_message.reply_text(
        texts.done_text(claim_id, f"merged into #{into_id}", "merged")
        + f"\nClaim #{into_id} now has {target.reporter_count} senders.",
        **HTML,
    )
    for changed in (claim_id, into_id):
        await refresh_alert(context.bot, db, changed)


@_editors_only
async def reject(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/reject N reason: close a claim that is not worth checking."""
    [claim_id] = _claim_args(context, 1, "reject")
    reason = " ".join((context.args or [])[1:])
    db = newsroom_of(context).db
    changed = await reject_claim(db, actor, claim_id, reason)
    await update.effective_message.reply_text(
        texts.done_text(claim_id, "rejected", changed.status), **HTML
    )
    await refresh_alert(context.bot, db, claim_id)


@_editors_only
async def reopen(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/reopen N: a closed or answered claim goes back to the queue."""
    [claim_id] = _claim_args(context, 1, "reopen")
    db = newsroom_of(context).db
    changed = await reopen_claim(db, actor, claim_id)
    await update.effective_message.reply_text(
        texts.done_text(claim_id, "reopened", changed.status), **HTML
    )
    await refresh_alert(context.bot, db, claim_id)


@_editors_only
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """/stats: the tip line's counts."""
    counts = await desk_stats(newsroom_of(context).db)
    await update.effective_message.reply_text(texts.stats_text(counts), **HTML)


COMMANDS = {
    "queue": queue,
    "claim": claim,
    "assign": assign,
    "verdict": verdict,
    "merge": merge,
    "reject": reject,
    "reopen": reopen,
    "stats": stats,
}


# --- Buttons under alerts -------------------------------------------------------------------


@_editors_only
async def button(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """Assign to me, Not checkable, Reject, Reopen act at once; Merge and Attach explain how."""
    query = update.callback_query
    _, action, number = (query.data or "desk::0").split(":", 2)
    claim_id = int(number) if number.isdigit() else 0
    db = newsroom_of(context).db
    if action == "merge":
        await query.answer(texts.merge_prompt(claim_id), show_alert=True)
        return
    if action == "verdict":
        detail = await claim_detail(db, claim_id)
        await query.answer()
        await query.message.reply_text(texts.verdict_prompt(detail), **HTML)
        return
    actions = {
        "assign": lambda: assign_claim(db, actor, claim_id),
        "nc": lambda: mark_not_checkable(db, actor, claim_id),
        "reject": lambda: reject_claim(db, actor, claim_id, ""),
        "reopen": lambda: reopen_claim(db, actor, claim_id),
    }
    if action not in actions:
        await query.answer()
        return
    changed = await actions[action]()
    await query.answer(f"Claim #{claim_id} is now {changed.status}.")
    await refresh_alert(context.bot, db, claim_id)


# --- Alerts ---------------------------------------------------------------------------------


async def announce_claims(
    bot: Bot, db: Database, chat_id: int, policy: alerts.AlertPolicy | None = None
) -> int:
    """One round of alerts: announce new claims, edit grown ones, re-announce trending ones.

    Returns how many messages were sent or edited. Run every few seconds by ``bot/runtime``.
    """
    done = 0
    for view in await alerts.new_alerts(db, chat_id, policy):
        try:
            sent = await bot.send_message(
                chat_id,
                texts.alert_text(view),
                reply_markup=texts.claim_buttons(view.claim),
                **HTML,
            )
        except TelegramError as exc:
            log.warning("alert for claim %s not sent: %s", view.claim.id, exc)
            await alerts.alert_failed(db, view.claim.id)
            continue
        await alerts.alert_sent(db, view.claim.id, sent.message_id)
        done += 1
    for view in await alerts.alerts_to_refresh(db, chat_id, policy):
        await _edit_alert(bot, view)
        done += 1
    for trending in await alerts.trending_alerts(db, chat_id, policy):
        try:
            await bot.send_message(
                chat_id,
                texts.trending_text(trending),
                reply_parameters=ReplyParameters(
                    trending.view.message_id or 0, allow_sending_without_reply=True
                ),
                **HTML,
            )
        except TelegramError as exc:
            log.warning("trending alert for claim %s not sent: %s", trending.view.claim.id, exc)
        done += 1
    return done
