"""Answers that ride on the webhook's 200: made once by Telegram, whatever fails before."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.app import build_application
from bot.emulator import BotAPIEmulator
from bot.settings import load_settings
from bot.updates import UpdateBusyError, UpdatePipeline
from newsroom.context import Newsroom
from storage import inbox
from storage.models import InboundUpdate, InboundUpdateStatus, Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _pipeline(emulator: BotAPIEmulator, newsroom: Newsroom, **options: object) -> UpdatePipeline:
    settings = load_settings(None, bot_token=emulator.token, telegram_api_url=emulator.base_url)
    return UpdatePipeline(build_application(settings, newsroom), newsroom.db, **options)


async def _tip(newsroom: Newsroom) -> Tip:
    async with newsroom.db.session() as session:
        [tip] = (await session.exec(select(Tip))).all()
    return tip


async def test_the_answer_to_a_tip_is_the_body_of_the_200_and_is_recorded_with_the_update(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    pipeline = _pipeline(emulator, newsroom)
    update = emulator.private_message(5001, "Ab Montag wird das Bargeld in Europa abgeschafft!")
    async with pipeline.application:
        answer = await pipeline.handle_delivery(update)
        again = await pipeline.handle_delivery(update)  # a redelivery: its 200 was lost

    assert answer is not None
    assert (answer["method"], answer["chat_id"], answer["parse_mode"]) == (
        "sendMessage",
        5001,
        "HTML",
    )
    assert "editors will look at it" in answer["text"]
    assert again == answer
    assert not [c for c in emulator.calls if c.method == "sendMessage"]  # nothing requested
    assert (await _tip(newsroom)).reply_sent_at is not None
    async with newsroom.db.session() as session:
        row = await session.get_one(InboundUpdate, update["update_id"])
    assert (row.status, row.payload, row.answer) == (InboundUpdateStatus.DONE, None, answer)

    await emulator.take_webhook_answer(json.dumps(answer).encode())
    [sent] = emulator.sent_messages(5001)
    assert sent["text"].startswith("Thank you!")


async def test_a_transient_failure_answers_503_and_the_redelivery_answers_once(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    pipeline = _pipeline(emulator, newsroom)
    failures: list[int] = []

    async def locked_once(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not failures:
            failures.append(update.update_id)
            raise OperationalError("INSERT INTO tip", {}, Exception("database is locked"))

    pipeline.application.add_handler(MessageHandler(filters.ALL, locked_once), group=-1)
    update = emulator.private_message(5002, "Morgen wird das Internet landesweit abgeschaltet!")
    async with pipeline.application:
        with pytest.raises(UpdateBusyError):
            await pipeline.handle_delivery(update)
        answer = await pipeline.handle_delivery(update)  # due at once: Telegram paces retries

    assert failures == [update["update_id"]]
    assert answer is not None
    assert "editors will look at it" in answer["text"]
    assert (await _tip(newsroom)).reply_sent_at is not None


async def test_an_update_another_worker_holds_is_refused_until_its_lease_runs_out(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    pipeline = _pipeline(emulator, newsroom)
    update = emulator.private_message(5003, "Die Renten werden ab Januar halbiert!")
    async with newsroom.db.session() as session:  # a worker took it, and died
        await inbox.take_update(session, update, lease=timedelta(seconds=1))
    async with pipeline.application:
        with pytest.raises(UpdateBusyError):
            await pipeline.handle_delivery(update)
        async with newsroom.db.session() as session:
            assert (await session.exec(select(Tip))).all() == []
        await asyncio.sleep(1.1)
        answer = await pipeline.handle_delivery(update)
    assert answer is not None
    assert answer["chat_id"] == 5003


async def test_the_update_loop_answers_what_telegram_stopped_redelivering(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    leave = timedelta(seconds=1.5)
    pipeline = _pipeline(
        emulator, newsroom, leave_to_telegram=leave, look_again=timedelta(seconds=0.2)
    )
    update = emulator.accept_update(emulator.private_message(5004, "Der Flughafen schließt!"))
    async with newsroom.db.session() as session:  # a worker took it and died; no redelivery
        await inbox.take_update(session, update, lease=timedelta(milliseconds=1))
    stop = asyncio.Event()
    async with pipeline.application:
        running = asyncio.create_task(pipeline.run(stop))
        await asyncio.sleep(1.0)
        assert emulator.sent_messages(5004) == []  # still Telegram's to redeliver
        await emulator.wait_for("sendMessage", where=lambda call: call.params["chat_id"] == 5004)
        stop.set()
        await running
    [answer] = emulator.sent_messages(5004)
    assert "editors will look at it" in answer["text"]


async def test_a_stopping_worker_takes_no_new_delivery(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    pipeline = _pipeline(emulator, newsroom)
    stop = asyncio.Event()
    stop.set()
    async with pipeline.application:
        await pipeline.run(stop)
        with pytest.raises(UpdateBusyError):
            await pipeline.handle_delivery(emulator.private_message(5005, "Die Brücke ist zu!"))
    async with newsroom.db.session() as session:
        assert (await session.exec(select(InboundUpdate))).all() == []


async def test_a_delivery_in_flight_when_the_worker_stops_is_answered_first(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    pipeline = _pipeline(emulator, newsroom)

    async def slow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.sleep(0.5)  # a tip still being handled when SIGTERM comes

    pipeline.application.add_handler(MessageHandler(filters.ALL, slow), group=-1)
    stop = asyncio.Event()
    update = emulator.private_message(5006, "Die Wasserwerke werden morgen privatisiert!")
    async with pipeline.application:
        running = asyncio.create_task(pipeline.run(stop))
        delivery = asyncio.create_task(pipeline.handle_delivery(update))
        await asyncio.sleep(0.1)
        stop.set()
        await running
        assert delivery.done()  # run() returned only after it
        answer = delivery.result()
    assert answer is not None
    assert answer["chat_id"] == 5006


async def test_deliveries_are_handled_within_the_concurrency_bound(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    pipeline = _pipeline(emulator, newsroom, concurrency=3)
    running, most = 0, 0

    async def counted(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1

    pipeline.application.add_handler(MessageHandler(filters.ALL, counted), group=-1)
    updates = [emulator.private_message(5100 + n, f"Gerücht Nummer {n}") for n in range(10)]
    async with pipeline.application:
        answers = await asyncio.gather(*(pipeline.handle_delivery(u) for u in updates))
    assert most == 3
    assert [answer["chat_id"] for answer in answers if answer] == [
        u["message"]["chat"]["id"] for u in updates
    ]
