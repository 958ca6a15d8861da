"""Tips from the public: whatever someone sends or forwards in a private chat."""

from __future__ import annotations

import time
from datetime import UTC

from telegram import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.ext import ContextTypes

from handlers import pictures, replies
from handlers.common import (
    HTML,
    answer_in_webhook_response,
    meter_of,
    newsroom_of,
    translator_for,
)
from handlers.i18n import pick_language, translator
from newsroom.intake import (
    ForwardOrigin,
    IncomingTip,
    TipNotFoundError,
    mark_reply_sent,
    receive_tip,
    record_match_answer,
)
from newsroom.reporters import preferred_language


def _forward_origin(message: Message) -> ForwardOrigin | None:
    origin = message.forward_origin
    date = origin.date.astimezone(UTC) if origin and origin.date else None
    match origin:
        case MessageOriginChannel():
            return ForwardOrigin(
                kind="channel",
                chat_id=origin.chat.id,
                title=origin.chat.title,
                username=origin.chat.username,
                message_id=origin.message_id,
                date=date,
            )
        case MessageOriginChat():
            return ForwardOrigin(
                kind="chat",
                chat_id=origin.sender_chat.id,
                title=origin.sender_chat.title,
                date=date,
            )
        case MessageOriginUser():
            return ForwardOrigin(kind="user", date=date)
        case MessageOriginHiddenUser():
            return ForwardOrigin(kind="hidden_user", date=date)
    return None


def _media(message: Message) -> tuple[str | None, str | None, str | None]:
    """The kind of attached media and its Telegram file ids (largest photo size)."""
    if message.photo:
        largest = message.photo[-1]
        return "photo", largest.file_id, largest.file_unique_id
    for kind in ("video", "animation", "document"):
        attachment = getattr(message, kind)
        if attachment is not None:
            return kind, attachment.file_id, attachment.file_unique_id
    return None, None, None


def incoming_tip(update: Update, *, read_pictures: bool = False) -> IncomingTip:
    """Read a private message into the newsroom's terms."""
    message = update.effective_message
    user = update.effective_user
    kind, file_id, unique_id = _media(message)
    return IncomingTip(
        telegram_user_id=user.id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        update_id=update.update_id,
        text=message.text or message.caption or "",
        language_code=user.language_code,
        media_kind=kind,
        media_file_id=file_id,
        media_file_unique_id=unique_id,
        forward=_forward_origin(message),
        received_at=message.date.astimezone(UTC),
        picture_to_read=read_pictures and pictures.has_picture(message),
    )


async def tip(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Records the tip and replies: a verdict, a question, or "we'll look at it"."""
    newsroom = newsroom_of(context)
    started = time.perf_counter()
    incoming = incoming_tip(update, read_pictures=newsroom.pictures is not None)
    result = await receive_tip(newsroom.db, newsroom.indexes, incoming, newsroom.policy)
    if result.kind == "repeat":
        return
    meter = meter_of(context)
    meter.tip_handled(result.kind, time.perf_counter() - started)
    # The chosen language came with the tip: no second look-up before the reply.
    tr = translator(pick_language(result.chosen_language, update.effective_user.language_code))
    if result.kind != "reading":  # a picture without caption is answered once it is read
        text, buttons = replies.intake_reply(tr, result)
        message = update.effective_message
        if not answer_in_webhook_response(message, text, buttons, tip_id=result.tip_id):
            await message.reply_text(text, reply_markup=buttons, **HTML)
            if result.tip_id is not None:
                await mark_reply_sent(newsroom.db, result.tip_id)
        meter.reply_sent(result.kind)
    await pictures.read_later(update, context, result, tr)


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says kindly what the tip line can check, when it gets a sticker, voice, poll..."""
    tr = await translator_for(update, context)
    text = replies.unsupported(tr)
    if not answer_in_webhook_response(update.effective_message, text):
        await update.effective_message.reply_text(text, **HTML)
    meter_of(context).reply_sent("unsupported")


async def match_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The sender's yes/no to "Is this the post you saw?"."""
    query = update.callback_query
    _, answer, tip_id = (query.data or "::").split(":", 2)
    newsroom = newsroom_of(context)
    try:
        result = await record_match_answer(
            newsroom.db,
            tip_id=int(tip_id),
            telegram_user_id=query.from_user.id,
            confirmed=answer == "yes",
        )
    except (TipNotFoundError, ValueError):
        await query.answer()
        return
    await query.answer()
    meter_of(context).match_answered(answer == "yes")
    chosen = await preferred_language(newsroom.db, query.from_user.id)
    tr = translator(pick_language(chosen, query.from_user.language_code))
    text, _ = replies.intake_reply(tr, result)
    await query.edit_message_text(text, **HTML)
