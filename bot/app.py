"""The python-telegram-bot Application: built in one place, every handler registered here."""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.metrics import MeteredRequest, TiplineMetrics
from bot.settings import Settings
from bot.updates import is_transient, report_transient_failure
from handlers import commands, desk, groups, inline, replies, tips
from handlers.common import HTML, METRICS_KEY, NEWSROOM_KEY, translator_for
from newsroom.context import Newsroom

log = logging.getLogger(__name__)

_PRIVATE = filters.ChatType.PRIVATE
_TIP = _PRIVATE & (
    (filters.TEXT & ~filters.COMMAND)
    | filters.PHOTO
    | filters.VIDEO
    | filters.ANIMATION
    | filters.Document.ALL
)
_UNSUPPORTED = _PRIVATE & (
    filters.Sticker.ALL
    | filters.VOICE
    | filters.VIDEO_NOTE
    | filters.AUDIO
    | filters.LOCATION
    | filters.CONTACT
    | filters.POLL
    | filters.Dice.ALL
)


def build_application(
    settings: Settings, newsroom: Newsroom, metrics: TiplineMetrics | None = None
) -> Application:
    """The bot, talking to ``TIPLINE_TELEGRAM_API_URL``, with the newsroom and this process's
    metrics in ``bot_data``; every Bot API call goes through a client that counts failures."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    metrics = metrics or TiplineMetrics()
    application = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.file_url)
        # PTB's own pool sizes: 256 for calls, 1 for the long poll.
        .request(MeteredRequest(metrics, connection_pool_size=256))
        .get_updates_request(MeteredRequest(metrics, connection_pool_size=1))
        .post_init(_announce_commands)
        .build()
    )
    application.bot_data[NEWSROOM_KEY] = newsroom
    application.bot_data[METRICS_KEY] = metrics
    application.bot_data[desk.DESK_KEY] = desk.DeskConfig(
        editor_ids=frozenset(settings.editor_telegram_ids),
        newsroom_chat_id=settings.newsroom_chat_id,
        allow_private_urls=settings.allow_private_urls,
    )
    register_handlers(application)
    return application


def register_handlers(application: Application) -> None:
    # --- The newsroom desk (editors): in any chat, and before the private-chat fallback, so a
    # non-editor's /queue gets the desk's polite refusal and nothing else.
    for name, callback in desk.COMMANDS.items():
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(desk.button, pattern=r"^desk:"))
    # --- The public.
    private_commands = {
        "start": commands.start,
        "help": commands.help_command,
        "privacy": commands.privacy,
        "language": commands.language,
        "forget": commands.forget_command,
    }
    for name, callback in private_commands.items():
        application.add_handler(CommandHandler(name, callback, filters=_PRIVATE))
    application.add_handler(CallbackQueryHandler(commands.language_chosen, pattern=r"^lang:"))
    application.add_handler(CallbackQueryHandler(commands.forget_answered, pattern=r"^forget:"))
    application.add_handler(CallbackQueryHandler(tips.match_answered, pattern=r"^match:"))
    application.add_handler(MessageHandler(_TIP, tips.tip))
    application.add_handler(MessageHandler(_UNSUPPORTED, tips.unsupported))
    application.add_handler(MessageHandler(_PRIVATE & filters.COMMAND, commands.help_command))
    application.add_handler(CommandHandler("check", groups.check, filters=filters.ChatType.GROUPS))
    application.add_handler(InlineQueryHandler(inline.search))
    application.add_error_handler(_on_error)


async def add_mention_handler(application: Application) -> None:
    """Mentions need the bot's username, known only after getMe."""
    mention = filters.ChatType.GROUPS & filters.Mention(application.bot.username)
    application.add_handler(MessageHandler(mention & ~filters.COMMAND, groups.check))


async def _announce_commands(application: Application) -> None:
    await add_mention_handler(application)
    await application.bot.set_my_commands(
        [
            BotCommand("start", "What this bot does"),
            BotCommand("help", "How to send a tip"),
            BotCommand("privacy", "What we store, and for how long"),
            BotCommand("language", "Choose your language"),
            BotCommand("forget", "Delete everything about you"),
        ]
    )


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs the failure (never the message text) and apologises to a private sender.

    A transient failure (the database locked or away, Telegram unreachable) is not the
    sender's problem: the update pipeline processes the update again, and answers then.
    """
    context.application.bot_data[METRICS_KEY].update_failed(context.error)
    if context.error is not None and is_transient(context.error):
        report_transient_failure()
        log.warning(
            "update %s failed (%s); it will be processed again",
            update.update_id if isinstance(update, Update) else "-",
            type(context.error).__name__,
        )
        return
    log.error(
        "update %s failed: %s",
        update.update_id if isinstance(update, Update) else "-",
        type(context.error).__name__,
        exc_info=context.error,
    )
    if (
        isinstance(update, Update)
        and update.effective_chat
        and update.effective_chat.type == "private"
    ):
        tr = await translator_for(update, context)
        await context.bot.send_message(
            update.effective_chat.id, replies.something_went_wrong(tr), **HTML
        )
