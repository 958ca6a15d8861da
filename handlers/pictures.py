"""Pictures in private chats: hand them to the newsroom's picture reader, answer later.

The Telegram part only: which attachment is a picture, how to download it through getFile
within a size cap, and how to send the answer once the picture is read.
"""

from __future__ import annotations

from datetime import datetime

from telegram import Bot, Document, Message, PhotoSize, ReplyParameters, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from handlers import replies
from handlers.common import HTML, newsroom_of
from handlers.i18n import Translator, pick_language, translator
from newsroom.context import Newsroom
from newsroom.images import (
    Download,
    PictureJob,
    PictureRefusedError,
    Reply,
    pictures_left_unread,
)
from newsroom.intake import IntakeResult, PictureReading, mark_reply_sent, receive_picture

__all__ = ["has_picture", "read_later", "resume_unread_pictures"]

_IMAGE_DOCUMENT_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def _picture_of(message: Message) -> PhotoSize | Document | None:
    """The picture in a message: the largest photo size, or a document that says it is an
    image."""
    if message.photo:
        return message.photo[-1]
    document = message.document
    if document is None:
        return None
    name = (document.file_name or "").lower()
    if (document.mime_type or "").startswith("image/") or name.endswith(_IMAGE_DOCUMENT_SUFFIXES):
        return document
    return None


def has_picture(message: Message | None) -> bool:
    return message is not None and _picture_of(message) is not None


def _downloader(bot: Bot, file_id: str, declared: int | None) -> Download:
    async def download(limit: int) -> bytes:
        if declared and declared > limit:
            raise PictureRefusedError("too_large", f"{declared:,} bytes declared")
        try:
            file = await bot.get_file(file_id)
        except BadRequest as exc:  # "file is too big" beyond the Bot API's own 20 MB
            raise PictureRefusedError("too_large", exc.message) from exc
        if file.file_size and file.file_size > limit:
            raise PictureRefusedError("too_large", f"{file.file_size:,} bytes")
        content = bytes(await file.download_as_bytearray())
        if len(content) > limit:
            raise PictureRefusedError("too_large", f"{len(content):,} bytes downloaded")
        return content

    return download


def _replier(bot: Bot, chat_id: int, message_id: int, tr: Translator) -> Reply:
    async def reply(result: IntakeResult) -> None:
        text, buttons = replies.intake_reply(tr, result)
        await bot.send_message(
            chat_id,
            text,
            reply_markup=buttons,
            reply_parameters=ReplyParameters(message_id, allow_sending_without_reply=True),
            **HTML,
        )

    return reply


async def read_later(
    update: Update, context: ContextTypes.DEFAULT_TYPE, result: IntakeResult, tr: Translator
) -> None:
    """Hand the tip's picture to the reader: a picture the sender waits for is filed at once
    if the very same file was read before; any other is queued for reading. Answered here
    only if the queue is full."""
    newsroom = newsroom_of(context)
    message = update.effective_message
    picture = _picture_of(message) if message else None
    if newsroom.pictures is None or picture is None or result.tip_id is None:
        return
    if result.kind not in ("reading", "verdict", "ask", "ask_claim", "queued"):
        return
    reply = _replier(context.bot, message.chat_id, message.message_id, tr)
    job = PictureJob(
        tip_id=result.tip_id,
        download=_downloader(context.bot, picture.file_id, picture.file_size),
        reply=reply,
        language_code=update.effective_user.language_code if update.effective_user else None,
        caption=message.caption or "",
        file_unique_id=picture.file_unique_id,
    )
    # Only a sender still waiting for an answer is worth holding this update for.
    reader = newsroom.pictures
    queued = await reader.take(job) if result.kind == "reading" else reader.submit(job)
    if queued or result.kind != "reading":
        return
    unread = await receive_picture(newsroom.db, newsroom.indexes, result.tip_id, PictureReading())
    if unread is not None:
        await reply(unread)
        await mark_reply_sent(newsroom.db, result.tip_id)


async def resume_unread_pictures(bot: Bot, newsroom: Newsroom, *, received_before: datetime) -> int:
    """Queue again the pictures a stopped worker left unread, so that every sender still gets
    an answer; returns how many were queued."""
    if newsroom.pictures is None:
        return 0
    queued = 0
    for picture in await pictures_left_unread(newsroom.db, received_before=received_before):
        job = PictureJob(
            tip_id=picture.tip_id,
            download=_downloader(bot, picture.file_id, None),
            reply=_replier(
                bot,
                picture.chat_id,
                picture.message_id,
                translator(pick_language(picture.language, None)),
            ),
            language_code=picture.language,
            caption=picture.caption,
            file_unique_id=picture.file_unique_id,
        )
        queued += newsroom.pictures.submit(job)
    return queued
