"""Commands of the private chat: /start, /help, /privacy, /language, /forget."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers import replies
from handlers.common import HTML, newsroom_of, translator_for
from handlers.i18n import SUPPORTED_LANGUAGES, translator
from newsroom.reporters import choose_language, forget


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets a newcomer and says what the tip line does."""
    tr = await translator_for(update, context)
    await update.effective_message.reply_text(
        replies.welcome(tr, newsroom_of(context).name), **HTML
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explains how to send a tip and what happens next."""
    tr = await translator_for(update, context)
    await update.effective_message.reply_text(replies.help_text(tr), **HTML)


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says what is stored, why, for how long, and how to delete it."""
    tr = await translator_for(update, context)
    days = newsroom_of(context).retention_days
    await update.effective_message.reply_text(replies.privacy_text(tr, days), **HTML)


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offers the languages the tip line answers in, as buttons."""
    tr = await translator_for(update, context)
    text, buttons = replies.language_question(tr)
    await update.effective_message.reply_text(text, reply_markup=buttons, **HTML)


async def language_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stores the chosen language and confirms in it."""
    query = update.callback_query
    code = (query.data or "").removeprefix("lang:")
    if code not in SUPPORTED_LANGUAGES:
        await query.answer()
        return
    await choose_language(newsroom_of(context).db, query.from_user.id, code)
    await query.answer()
    await query.edit_message_text(replies.language_chosen(translator(code)), **HTML)


async def forget_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Asks for confirmation before deleting everything about the sender."""
    tr = await translator_for(update, context)
    text, buttons = replies.forget_question(tr)
    await update.effective_message.reply_text(text, reply_markup=buttons, **HTML)


async def forget_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Deletes the sender's data on "yes"; leaves everything on "cancel"."""
    query = update.callback_query
    tr = await translator_for(update, context)
    await query.answer()
    if query.data != "forget:yes":
        await query.edit_message_text(replies.forget_cancelled(tr), **HTML)
        return
    forgotten = await forget(newsroom_of(context).db, query.from_user.id)
    await query.edit_message_text(replies.forgotten(tr, forgotten.tips), **HTML)
