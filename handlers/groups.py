"""Groups and channels: silent, except for /check on a replied message and mentions."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers import replies
from handlers.common import HTML, newsroom_of
from handlers.i18n import pick_language, translator
from newsroom.lookup import check_text


async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/check as a reply, or a mention: looks up a fact-check and answers in the group.

    Nothing is stored: group members did not ask to be known to the tip line.
    """
    message = update.effective_message
    target = message.reply_to_message
    text = (target.text or target.caption) if target else None
    if not text and message.text and context.bot.username:
        text = message.text.replace(f"@{context.bot.username}", " ").strip()
        if text.startswith("/check"):
            text = text.removeprefix("/check").strip()
    user = update.effective_user
    tr = translator(pick_language(None, user.language_code if user else None))
    if not text:
        await message.reply_text(replies.check_needs_reply(tr), **HTML)
        return
    lookup = await check_text(newsroom_of(context), text, user.language_code if user else None)
    if lookup.kind == "verdict" and lookup.fact_check:
        reply = replies.verdict_card(tr, lookup.fact_check)
    elif lookup.kind == "ask" and lookup.fact_check:
        reply = replies.maybe_in_group(tr, lookup.fact_check)
    else:
        reply = replies.no_fact_check_in_group(tr, context.bot.username)
    await (target or message).reply_text(reply, **HTML)
