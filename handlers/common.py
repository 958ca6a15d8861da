"""What every handler needs: the newsroom, the sender's language, a safe way to reply."""

from __future__ import annotations

from typing import Protocol

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from handlers.i18n import Translator, pick_language, translator
from newsroom.context import Newsroom
from newsroom.reporters import preferred_language

NEWSROOM_KEY = "newsroom"
METRICS_KEY = "metrics"


class Meter(Protocol):
    """What handlers tell this process's metrics (``bot.metrics`` implements it), so that
    handlers count events without knowing Prometheus or importing upward."""

    def tip_handled(self, kind: str, seconds: float) -> None: ...
    def reply_sent(self, kind: str) -> None: ...
    def match_answered(self, confirmed: bool) -> None: ...


def newsroom_of(context: ContextTypes.DEFAULT_TYPE) -> Newsroom:
    return context.application.bot_data[NEWSROOM_KEY]


def meter_of(context: ContextTypes.DEFAULT_TYPE) -> Meter:
    return context.application.bot_data[METRICS_KEY]


async def translator_for(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Translator:
    """The sender's chosen language, else their Telegram app's, else English."""
    user = update.effective_user
    if user is None:
        return translator("en")
    chosen = None
    if update.effective_chat and update.effective_chat.type == "private":
        chosen = await preferred_language(newsroom_of(context).db, user.id)
    return translator(pick_language(chosen, user.language_code))


HTML = {"parse_mode": ParseMode.HTML, "disable_web_page_preview": True}
