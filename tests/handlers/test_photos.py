"""Pictures forwarded to the real bot through the emulator: read, recognised, or refused."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pictures import (
    decompression_bomb,
    encode,
    reencoded,
    require_ocr,
    scene,
    screenshot,
)
from sqlmodel import select
from tipline_harness import TipLine, rutte_fact_check

from bot.app import build_application
from bot.emulator import BotAPIEmulator
from bot.settings import load_settings
from handlers.pictures import resume_unread_pictures
from matching import Encoder
from matching.images import picture_hash
from newsroom.context import Newsroom
from newsroom.images import PictureReader, Tesseract
from newsroom.indexes import MatchingIndexes
from storage.db import Database
from storage.models import FactCheck, Tip
from storage.types import utcnow

RUTTE_DE = (
    "NATO-Generalsekretär Mark Rutte hat gedroht, die USA aus der NATO auszuschließen, "
    "falls Trump die Ukraine an Putin übergibt."
)
RUTTE_RU = (
    "Генсек НАТО Марк Рютте пригрозил исключить США из НАТО, если Трамп отдаст Украину Путину."
)
OTHER_DE = (
    "Ab Montag wird in ganz Deutschland das Bargeld abgeschafft, "
    "alle Konten werden dann von der Regierung überwacht."
)
# The reader refuses files above this in these tests; a 960x720 noise PNG is far larger.
TEST_MAX_BYTES = 600_000
PICTURE_ANSWER_SECONDS = 60


def _russian_fact_check() -> FactCheck:
    return FactCheck(
        url="https://example.org/proverka/rutte-nato-ssha",
        claim_reviewed=RUTTE_RU,
        headline="Нет, Рютте не грозил исключить США из НАТО",
        publisher="Демо-фактчекинг (example)",
        rating="false",
        rating_text="Неправда",
        language="ru",
        published_at=datetime(2024, 11, 13, tzinfo=UTC),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def tipline(
    database: Database, emulator: BotAPIEmulator, encoder: Encoder
) -> AsyncIterator[TipLine]:
    """The real bot with its picture reader running, as `tipline run` starts it."""
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    reader = PictureReader(database, indexes, max_bytes=TEST_MAX_BYTES)
    newsroom = Newsroom(db=database, indexes=indexes, name="Demo Newsroom", pictures=reader)
    settings = load_settings(
        None,
        bot_token=emulator.token,
        telegram_api_url=emulator.base_url,
        telegram_file_url=emulator.base_file_url,
    )
    application = build_application(settings, newsroom)
    async with application:
        await application.start()
        reader.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield TipLine(emulator, application, newsroom)
        await application.updater.stop()
        await reader.stop()
        await application.stop()
    indexes.close()


def _photo(emu: BotAPIEmulator, user_id: int, content: bytes, **kwargs: Any) -> dict[str, Any]:
    return emu.private_message(user_id, kind="photo", file=content, **kwargs)


def _forward_of(emu: BotAPIEmulator, user_id: int, first: dict[str, Any]) -> dict[str, Any]:
    """Someone else forwarding the very same picture: Telegram gives the same file ids."""
    update = emu.private_message(user_id, kind="photo", file=b"unused")
    update["message"]["photo"] = first["message"]["photo"]
    return update


def _downloads(emu: BotAPIEmulator) -> int:
    return sum(call.method == "getFile" for call in emu.calls)


def _image_document(
    emu: BotAPIEmulator, user_id: int, content: bytes, *, mime_type: str = "image/png"
) -> dict[str, Any]:
    update = emu.private_message(user_id, kind="document", file=content)
    update["message"]["document"] |= {"mime_type": mime_type, "file_name": "screenshot.png"}
    return update


async def _answers(
    tipline: TipLine, update: dict[str, Any], *, replies: int = 1
) -> list[dict[str, Any]]:
    """Deliver a picture and wait for the bot's answers: OCR takes seconds on a busy machine,
    longer than the harness waits for a text's reply."""
    emu = tipline.emulator
    chat_id = update["message"]["chat"]["id"]
    before = len(emu.sent_messages(chat_id))
    emu.push_update(update)
    async with asyncio.timeout(PICTURE_ANSWER_SECONDS):
        while len(emu.sent_messages(chat_id)) < before + replies:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return emu.sent_messages(chat_id)[before:]


async def _tips(tipline: TipLine) -> list[Tip]:
    async with tipline.newsroom.db.session() as session:
        return list((await session.exec(select(Tip).order_by(Tip.id))).all())


@pytest.mark.parametrize(
    ("text", "font", "size", "language"),
    [
        (RUTTE_DE, "sans", 28, "de"),
        (RUTTE_DE, "serif", 22, "en"),
        (RUTTE_DE, "bold", 36, "de"),
        (RUTTE_RU, "sans", 26, "ru"),
        (RUTTE_RU, "mono", 20, "en"),
    ],
)
async def test_a_screenshot_of_a_debunked_rumour_gets_the_verdict(
    tipline: TipLine, text: str, font: str, size: int, language: str
) -> None:
    require_ocr()
    await tipline.add_fact_checks(rutte_fact_check(), _russian_fact_check())
    emu = tipline.emulator
    picture = encode(screenshot(text, font=font, size=size))
    [reply] = await _answers(tipline, _photo(emu, 1001, picture, language_code=language))
    assert "example.org/" in reply["text_html"]
    assert reply["reply_to_message"]["photo"]
    [tip] = await _tips(tipline)
    assert tip.reply_kind == "verdict"
    assert "Rutte" in (tip.ocr_text or "") or "Рютте" in (tip.ocr_text or "")
    assert tip.text == ""  # what the sender wrote stays apart from what we read


async def test_a_reencoded_smaller_copy_joins_the_claim_and_another_picture_does_not(
    tipline: TipLine,
) -> None:
    require_ocr()
    emu = tipline.emulator
    original = screenshot(OTHER_DE, font="serif", size=30)
    [first] = await _answers(tipline, _photo(emu, 1101, encode(original), language_code="en"))
    assert "editors will look at it" in first["text"]
    [second] = await _answers(tipline, _photo(emu, 1102, reencoded(original), language_code="en"))
    assert "1 other person sent us this too" in second["text"]
    different = screenshot(RUTTE_DE, font="serif", size=30)
    [third] = await _answers(tipline, _photo(emu, 1103, encode(different), language_code="en"))
    assert "You are the first" in third["text"]
    tips = await _tips(tipline)
    assert tips[0].claim_id == tips[1].claim_id != tips[2].claim_id
    assert tips[0].media_file_unique_id != tips[1].media_file_unique_id


async def test_a_picture_without_text_is_queued_honestly_and_its_copy_joins_it(
    tipline: TipLine,
) -> None:
    require_ocr()
    emu = tipline.emulator
    photo = scene(7, width=640, height=480)
    [first] = await _answers(tipline, _photo(emu, 1201, encode(photo, "JPEG", quality=90)))
    assert "could not read any text in this picture" in first["text"]
    [second] = await _answers(tipline, _photo(emu, 1202, reencoded(photo)))
    assert "1 other person sent us this too" in second["text"]
    tips = await _tips(tipline)
    assert tips[0].claim_id == tips[1].claim_id
    assert tips[0].ocr_text == ""  # read, and nothing found: not None, "OCR did not run"
    assert tips[0].image_hash


async def test_a_forward_of_the_picture_a_fact_check_debunks_gets_its_verdict(
    tipline: TipLine,
) -> None:
    require_ocr()
    photo = scene(11, width=800, height=600)
    debunk = rutte_fact_check()
    debunk.url = "https://example.org/faktencheck/altes-foto"
    debunk.image_url = "https://example.org/bilder/altes-foto.jpg"
    debunk.image_hash = picture_hash(photo).hex()
    await tipline.add_fact_checks(debunk)
    [reply] = await _answers(tipline, _photo(tipline.emulator, 1301, reencoded(photo, quality=50)))
    assert "example.org/faktencheck/altes-foto" in reply["text_html"]


async def test_a_caption_is_answered_at_once_and_the_picture_text_adds_the_verdict(
    tipline: TipLine,
) -> None:
    require_ocr()
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    picture = encode(screenshot(RUTTE_DE, size=28))
    update = _photo(emu, 1401, picture, caption="Stimmt das?", language_code="de")
    queued, verdict = await _answers(tipline, update, replies=2)
    assert "Redaktion" in queued["text"] or "editors" in queued["text"]
    assert "example.org/faktencheck/rutte-nato-usa" in verdict["text_html"]
    [tip] = await _tips(tipline)
    assert tip.reply_kind == "verdict"
    assert tip.text == "Stimmt das?"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda emu: _photo(emu, 1501, encode(scene(3), "PNG", compress_level=0)), "too large"),
        (lambda emu: _photo(emu, 1502, encode(scene(4), "JPEG")[:2000]), "could not open"),
        (lambda emu: _image_document(emu, 1503, b"%PDF-1.4 not a picture"), "could not open"),
        (lambda emu: _image_document(emu, 1504, decompression_bomb()), "could not open"),
        (lambda emu: _image_document(emu, 1505, decompression_bomb(7000)), "could not open"),
    ],
    ids=["oversized", "corrupt", "not-an-image", "decompression-bomb", "too-many-pixels"],
)
async def test_unusable_pictures_are_refused_politely_and_nothing_breaks(
    tipline: TipLine, make: Any, expected: str
) -> None:
    emu = tipline.emulator
    [refusal] = await _answers(tipline, make(emu))
    assert expected in refusal["text"]
    assert "screenshot" in refusal["text"]
    [tip] = await _tips(tipline)
    assert tip.reply_kind == "refused"
    assert tip.claim_id is None
    [answer] = await tipline.send(emu.private_message(1599, "Is the moon made of cheese?"))
    assert "editors will look at it" in answer["text"]


async def test_a_redelivered_picture_is_read_once(tipline: TipLine) -> None:
    emu = tipline.emulator
    update = _photo(emu, 1601, encode(scene(9, width=320, height=240)))
    await _answers(tipline, dict(update))
    await tipline.silently(dict(update), user_id=1601)
    await tipline.newsroom.pictures.join()
    texts = [m["text"] for m in emu.sent_messages(1601)]
    assert len(texts) == 2  # the picture's answer and the /help answer
    assert len(await _tips(tipline)) == 1


async def test_a_picture_a_stopped_worker_left_unread_is_answered_after_the_restart(
    tipline: TipLine,
) -> None:
    require_ocr()
    await tipline.add_fact_checks(rutte_fact_check())
    emu, newsroom = tipline.emulator, tipline.newsroom
    assert newsroom.pictures is not None
    await newsroom.pictures.stop()  # the worker stops with the picture still queued
    update = _photo(emu, 1701, encode(screenshot(RUTTE_DE, size=28)), language_code="de")
    await tipline.silently(update, user_id=1701)
    [waiting] = await _tips(tipline)
    assert waiting.reply_kind == "reading"
    answered_before = len(emu.sent_messages(1701))  # only /help's answer

    restarted = dataclasses.replace(
        newsroom, pictures=PictureReader(newsroom.db, newsroom.indexes, max_bytes=TEST_MAX_BYTES)
    )
    restarted.pictures.start()
    try:
        resumed = await resume_unread_pictures(
            tipline.application.bot, restarted, received_before=utcnow()
        )
        await restarted.pictures.join()
        # A second worker starting later finds nothing left to read.
        again = await resume_unread_pictures(
            tipline.application.bot, restarted, received_before=utcnow()
        )
    finally:
        await restarted.pictures.stop()
    assert (resumed, again) == (1, 0)
    [reply] = emu.sent_messages(1701)[answered_before:]
    assert "example.org/faktencheck" in reply["text_html"]
    [answered] = await _tips(tipline)
    assert answered.reply_kind == "verdict"


async def test_a_viral_picture_is_read_once_and_every_forward_of_it_gets_the_verdict(
    tipline: TipLine,
) -> None:
    require_ocr()
    await tipline.add_fact_checks(rutte_fact_check())
    emu = tipline.emulator
    first = _photo(emu, 1801, encode(screenshot(RUTTE_DE, size=28)), language_code="de")
    [verdict] = await _answers(tipline, first)
    assert "example.org/faktencheck/rutte-nato-usa" in verdict["text_html"]
    downloads = _downloads(emu)
    for user_id in (1802, 1803, 1804):
        [again] = await _answers(tipline, _forward_of(emu, user_id, first))
        assert "example.org/faktencheck/rutte-nato-usa" in again["text_html"]
    assert _downloads(emu) == downloads  # filed from the first reading, not read again
    tips = await _tips(tipline)
    assert len(tips) == 4
    assert len({(t.claim_id, t.image_hash, t.ocr_text, t.reply_kind) for t in tips}) == 1
    assert "Rutte" in (tips[0].ocr_text or "")


async def test_copies_of_a_picture_arriving_together_are_read_once(tipline: TipLine) -> None:
    emu = tipline.emulator
    first = _photo(emu, 1901, encode(scene(13, width=480, height=360), "JPEG", quality=90))
    copies = [first, *(_forward_of(emu, 1902 + n, first) for n in range(4))]
    for update in copies:
        emu.push_update(update)
    async with asyncio.timeout(PICTURE_ANSWER_SECONDS):
        while any(not emu.sent_messages(u["message"]["chat"]["id"]) for u in copies):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert _downloads(emu) == 1
    tips = await _tips(tipline)
    assert len(tips) == 5
    assert len({t.claim_id for t in tips}) == 1
    assert len({t.image_hash for t in tips}) == 1


async def test_a_picture_read_without_ocr_is_read_again_once_ocr_is_there(
    tipline: TipLine,
) -> None:
    require_ocr()
    reader = tipline.newsroom.pictures
    assert reader is not None
    emu = tipline.emulator
    first = _photo(emu, 2001, encode(screenshot(OTHER_DE, size=28)), language_code="de")
    reader.ocr = Tesseract(binary="tesseract-not-installed-here")
    try:
        await _answers(tipline, first)
    finally:
        reader.ocr = Tesseract()
    [unread] = await _tips(tipline)
    assert unread.image_hash
    assert unread.ocr_text is None
    await _answers(tipline, _forward_of(emu, 2002, first))
    assert _downloads(emu) == 2
    read = (await _tips(tipline))[1]
    assert read.image_hash == unread.image_hash
    assert "Bargeld" in (read.ocr_text or "")
