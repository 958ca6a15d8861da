"""The bot token never reaches a log line or error output, and logs name no sender."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlmodel import select
from telegram import Bot
from telegram.error import TelegramError

from bot.app import build_application
from bot.delivery import OutboxDelivery
from bot.emulator import BotAPIEmulator
from bot.logs import configure_logging
from bot.settings import load_settings
from matching import Encoder
from newsroom.context import Newsroom
from newsroom.desk import Actor, attach_fact_check
from newsroom.factchecks import FactCheckRecord, import_records
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from newsroom.reporters import forget
from newsroom.retention import remove_expired_sender_links
from storage.db import Database
from storage.models import Claim

ASYNC = pytest.mark.asyncio(loop_scope="session")

# Shaped like a real @BotFather token, so it passes settings validation.
TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """configure_logging replaces the root handlers; give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "telegram")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest_asyncio.fixture(loop_scope="session")
async def telegram() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator(token=TOKEN)
    await emulator.start()
    yield emulator
    await emulator.stop()


async def _failing_bot_call(emulator: BotAPIEmulator) -> None:
    """A Bot API call that fails, logged where it is handled, as the runtime does."""
    emulator.fail_next("getMe", error_code=500, description="Internal Server Error")
    bot = Bot(TOKEN, base_url=emulator.base_url)
    try:
        await bot.get_me()
    except TelegramError:
        logging.getLogger("tipline.test").exception("getMe failed")
    # A library error that quotes the URL it called, token and all.
    try:
        raise RuntimeError(f"cannot reach {emulator.base_url}{TOKEN}/getMe")
    except RuntimeError:
        logging.getLogger("tipline.test").exception("forced error for %s", "getMe")


@ASYNC
@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize("json_lines", [False, True])
async def test_the_bot_token_is_redacted_from_request_urls_and_tracebacks(
    telegram: BotAPIEmulator, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    configure_logging("DEBUG", json_lines=json_lines, secrets=[TOKEN])
    # Worst case: someone turns the HTTP client's request log (URLs with the token) back on.
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    await _failing_bot_call(telegram)
    output = capsys.readouterr().err
    assert TOKEN not in output
    assert f"{telegram.base_url}[redacted]/getMe" in output  # the URL line itself was logged
    assert "Traceback" in output
    assert "RuntimeError: cannot reach" in output
    if json_lines:
        for line in output.splitlines():
            json.loads(line)


@ASYNC
@pytest.mark.usefixtures("logging_restored")
async def test_without_the_filter_the_token_would_leak(
    telegram: BotAPIEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The test above can fail: the same calls with no secret to redact show the token."""
    configure_logging("DEBUG", secrets=[])
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    await _failing_bot_call(telegram)
    assert TOKEN in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_crashing_command_logs_its_error_with_the_token_redacted(tmp_path: Path) -> None:
    """`tipline run` against a Telegram that rejects every call: a clean exit code 1, the
    error in the log, the token nowhere in the output."""
    env = {
        **os.environ,
        "TIPLINE_BOT_TOKEN": TOKEN,
        # Nothing listens on port 9 (discard): every Bot API call fails.
        "TIPLINE_TELEGRAM_API_URL": "http://127.0.0.1:9/bot",
        "TIPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tipline.db'}",
        "TIPLINE_LOG_LEVEL": "DEBUG",
        "TIPLINE_PORT": str(_free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-2000:]
    assert "tipline run failed" in output
    assert "[redacted]" in output  # the bot's API URL was logged, without its token
    assert TOKEN not in output


@ASYNC
async def test_logs_at_info_name_no_sender_and_quote_no_message(
    database: Database, encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    """Intake, /forget and retention, as they log at INFO: counts and row numbers only."""
    user, text = 7_700_112_233, "Ab Montag schließen alle Sparkassen für zwei Wochen!"
    caplog.set_level(logging.INFO)
    indexes = MatchingIndexes(encoder)
    try:
        await indexes.refresh(database)
        tip = IncomingTip(telegram_user_id=user, chat_id=user, message_id=1, text=text)
        result = await receive_tip(database, indexes, tip, IntakePolicy())
        await forget(database, user)
        await remove_expired_sender_links(database, retention_days=90)
    finally:
        indexes.close()
    assert result.kind == "queued"
    messages = [record.getMessage() for record in caplog.records]
    assert any("filed under claim" in message for message in messages)
    assert any("reporter was forgotten" in message for message in messages)
    assert all(str(user) not in message for message in messages)
    assert all("Sparkassen" not in message for message in messages)


async def _wait_for_messages(emulator: BotAPIEmulator, chat_id: int, count: int) -> list[Any]:
    for _ in range(1000):
        sent = emulator.sent_messages(chat_id)
        if len(sent) >= count:
            return sent
        await asyncio.sleep(0.01)
    raise AssertionError(f"the bot sent {len(emulator.sent_messages(chat_id))} of {count}")


@ASYNC
async def test_a_full_intake_and_verdict_flow_logs_no_user_id_and_no_message_text(
    database: Database, encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    """The real bot against the emulator: a rumour is queued, an editor answers it, the
    verdict is delivered; nothing logged at INFO or above names the sender or quotes them."""
    user = 7_700_998_877
    rumour = (
        "Der Bürgermeister von Hamburg lässt alle Brücken am Freitag schließen, sagt mein Onkel"
    )
    caplog.set_level(logging.INFO)
    emulator = BotAPIEmulator()
    await emulator.start()
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    newsroom = Newsroom(db=database, indexes=indexes)
    settings = load_settings(
        None,
        bot_token=emulator.token,
        telegram_api_url=emulator.base_url,
        telegram_file_url=emulator.base_file_url,
    )
    application = build_application(settings, newsroom)
    try:
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            emulator.push_update(emulator.private_message(user, rumour, language_code="de"))
            await _wait_for_messages(emulator, user, 1)
            imported = await import_records(
                database,
                [
                    FactCheckRecord(
                        url="https://example.org/faktencheck/bruecken",
                        claim_reviewed="Hamburg schließt am Freitag alle Brücken.",
                        rating="false",
                        rating_text="Falsch",
                        language="de",
                    )
                ],
                source="test",
            )
            async with database.session() as session:
                claim = (await session.exec(select(Claim))).one()
            editor = Actor(editor_id=None, name="desk", role="editor", source="dashboard")
            verdict = await attach_fact_check(
                database, editor, claim.id or 0, imported.fact_check_ids[0]
            )
            assert verdict.notifications == 1
            assert await OutboxDelivery(application.bot, database).deliver_due() == 1
            delivered = await _wait_for_messages(emulator, user, 2)
            await application.updater.stop()
            await application.stop()
    finally:
        indexes.close()
        await emulator.stop()
    assert "example.org/faktencheck/bruecken" in str(delivered[-1])
    logged = [
        record.getMessage() + (record.exc_text or "")
        for record in caplog.records
        if record.levelno >= logging.INFO
    ]
    assert any("filed under claim" in line for line in logged)
    for line in logged:
        assert str(user) not in line
        assert "Bürgermeister" not in line
        assert "Onkel" not in line
