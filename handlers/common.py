"""What every handler needs: the newsroom, the sender's language, a safe way to reply."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from telegram import InlineKeyboardMarkup, Message, Update
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


@dataclass
class WebhookResponse:
    """The webhook request an update came in, while the update is handled.

    One Bot API call may ride on the request's 200, and Telegram makes that call exactly when
    it takes the 200: an answer sent this way is neither lost to a crash (no 200, so Telegram
    redelivers and it is answered then) nor doubled (a delivery that got its 200 is not
    redelivered). ``tip_id`` is the tip it answers, recorded as answered with the update.
    """

    call: dict[str, Any] | None = None
    tip_id: int | None = None


webhook_response: ContextVar[WebhookResponse | None] = ContextVar("webhook_response", default=None)


def answer_in_webhook_response(
    message: Message,
    text: str,
    buttons: InlineKeyboardMarkup | None = None,
    *,
    tip_id: int | None = None,
) -> bool:
    """Put this reply in the webhook response if one is waiting and still empty.

    False in polling mode and for a second reply: send it with ``reply_text`` then.
    """
    response = webhook_response.get()
    if response is None or response.call is not None:
        return False
    call: dict[str, Any] = {
        "method": "sendMessage",
        "chat_id": message.chat_id,
        "text": text,
        "parse_mode": ParseMode.HTML,
        "link_preview_options": {"is_disabled": True},
    }
    if buttons is not None:
        call["reply_markup"] = buttons.to_dict()
    response.call, response.tip_id = call, tip_id
    return True
