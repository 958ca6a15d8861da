"""`tipline run` as a whole (runtime.serve): both ways of receiving updates, and shutdown."""

from __future__ import annotations

import asyncio
import gc
import socket
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from sqlmodel import func, select

from bot.emulator import BotAPIEmulator
from bot.runtime import serve
from bot.settings import Settings, load_settings
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH
from newsroom.context import Newsroom
from storage.db import Database
from storage.models import InboundUpdate, InboundUpdateStatus, Tip

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "webhook-secret_42"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settings(emulator: BotAPIEmulator, **overrides: Any) -> Settings:
    return load_settings(
        None,
        bot_token=emulator.token,
        telegram_api_url=emulator.base_url,
        telegram_file_url=emulator.base_file_url,
        port=_free_port(),
        **overrides,
    )


async def _until_healthy(settings: Settings, task: asyncio.Task[None]) -> None:
    url = f"http://127.0.0.1:{settings.port}/healthz"
    async with aiohttp.ClientSession() as http:
        for _ in range(500):
            assert not task.done(), task.exception()
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.02)
    raise TimeoutError(url)


async def _count(db: Database, model: type, *where: object) -> int:
    async with db.session() as session:
        statement = select(func.count()).select_from(model)
        return (await session.exec(statement.where(*where) if where else statement)).one()


async def test_webhook_mode_registers_records_answers_once_and_stops_cleanly(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    settings = _settings(
        emulator,
        mode="webhook",
        webhook_url="https://tipline.example.org/telegram/webhook",
        webhook_secret=SECRET,
        webhook_max_connections=12,
    )
    encoded: list[list[str]] = []
    encode = newsroom.indexes.holder.encoder.encode
    newsroom.indexes.holder.encoder = SimpleNamespace(  # counts what reaches the encoder
        name=newsroom.indexes.holder.encoder.name,
        dim=newsroom.indexes.holder.encoder.dim,
        encode=lambda texts: encoded.append(list(texts)) or encode(texts),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, newsroom, stop))
    await _until_healthy(settings, running)
    [registered] = await emulator.wait_for("setWebhook")
    assert encoded == [["Loading the sentence encoder."]]  # at start, not on the first tip
    assert gc.get_freeze_count() > 0  # what start-up built is out of the collector's way
    assert registered.params["url"] == "https://tipline.example.org/telegram/webhook"
    assert registered.params["secret_token"] == SECRET
    assert int(registered.params["max_connections"]) == 12

    update = emulator.private_message(4242, "The river water is poisoned, do not drink it")
    update["update_id"] = 900_001
    endpoint = f"http://127.0.0.1:{settings.port}{WEBHOOK_PATH}"
    answers = []
    async with aiohttp.ClientSession(headers={SECRET_HEADER: SECRET}) as http:
        for _ in range(2):  # the first 200 never reached Telegram: it redelivers
            async with http.post(endpoint, json=update) as response:
                assert response.status == 200
                answers.append(await response.read())
    # The answer rides on the 200, the same on the redelivery; Telegram makes the call of the
    # 200 it got, so the sender hears once.
    assert answers[0] == answers[1]
    await emulator.take_webhook_answer(answers[1])
    # A command's handler replies through the update itself, which the webhook read: bound
    # to the bot, or the reply could not be sent.
    command = emulator.private_message(4242, "/help")
    async with (
        aiohttp.ClientSession(headers={SECRET_HEADER: SECRET}) as http,
        http.post(endpoint, json=command) as response,
    ):
        assert response.status == 200
    await emulator.wait_for("sendMessage", where=lambda c: "How to use" in c.params["text"])

    stop.set()
    await asyncio.wait_for(running, 30)
    answer, _help = emulator.sent_messages(4242)
    assert answer["text"].startswith("Thank you! Fact-checkers have not published anything")
    assert [c.via_webhook for c in emulator.calls if c.method == "sendMessage"] == [True, False]
    assert await _count(newsroom.db, Tip) == 1
    done = (InboundUpdate.status == InboundUpdateStatus.DONE, InboundUpdate.payload.is_(None))
    assert await _count(newsroom.db, InboundUpdate, *done) == 2
    assert gc.get_freeze_count() == 0  # collectable again once the bot is gone


async def test_polling_mode_answers_and_acknowledges_only_what_it_recorded(
    emulator: BotAPIEmulator, newsroom: Newsroom
) -> None:
    settings = _settings(emulator, mode="polling")
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, newsroom, stop))
    await _until_healthy(settings, running)
    await emulator.wait_for("deleteWebhook")
    for user_id in (5151, 5252, 5353):
        emulator.push_update(emulator.private_message(user_id, f"Rumour {user_id} about the dam"))
    for user_id in (5151, 5252, 5353):
        await emulator.wait_for("sendMessage", where=lambda c, u=user_id: c.params["chat_id"] == u)
    stop.set()
    await asyncio.wait_for(running, 30)
    assert await _count(newsroom.db, Tip) == 3
    assert await _count(newsroom.db, InboundUpdate, InboundUpdate.status == "done") == 3
