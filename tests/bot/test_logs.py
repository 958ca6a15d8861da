"""The bot token never reaches a log line or error output, and logs name no sender."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from telegram import Bot
from telegram.error import TelegramError

from bot.emulator import BotAPIEmulator
from bot.logs import configure_logging
from matching import Encoder
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from newsroom.reporters import forget
from newsroom.retention import remove_expired_sender_links
from storage.db import Database

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
