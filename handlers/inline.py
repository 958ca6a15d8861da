"""Inline mode: `@bot words` in any chat offers published fact-checks to share."""

from __future__ import annotations

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from handlers import replies
from handlers.common import newsroom_of
from handlers.i18n import pick_language, translator
from newsroom.lookup import search_fact_checks


async def search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers an inline query with up to ten verdict cards."""
    query = update.inline_query
    tr = translator(pick_language(None, query.from_user.language_code))
    cards = await search_fact_checks(newsroom_of(context), query.query)
    results = [
        InlineQueryResultArticle(
            id=str(card.fact_check_id),
            title=replies.shorten(
                f"{replies.rating_label(tr, card.rating, card.rating_text)}: "
                f"{card.headline or card.claim_reviewed}",
                120,
            ),
            description=replies.shorten(card.publisher or "", 100),
            input_message_content=InputTextMessageContent(
                replies.verdict_card(tr, card),
                parse_mode=ParseMode.HTML,
                link_preview_options=None,
            ),
        )
        for card in cards
    ]
    await query.answer(results, cache_time=60, is_personal=False)
