"""A running tip line for end-to-end tests: send real updates, read what the bot sent."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram.ext import Application

from bot.emulator import BotAPIEmulator
from bot.updates import UpdatePipeline
from newsroom.context import Newsroom
from storage.models import FactCheck


@dataclass
class TipLine:
    """The running bot, the emulator it talks to, and the newsroom behind it."""

    emulator: BotAPIEmulator
    application: Application
    newsroom: Newsroom
    # Set in webhook mode: updates are delivered to it, answers taken from its 200s.
    webhook: UpdatePipeline | None = None

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand an update over as Telegram would: by getUpdates, or by a webhook request whose
        200 may carry a Bot API call."""
        if self.webhook is None:
            self.emulator.push_update(update)
            return
        answer = await self.webhook.handle_delivery(self.emulator.accept_update(update))
        await self.emulator.take_webhook_answer(json.dumps(answer).encode() if answer else b"")

    async def send(self, update: dict[str, Any], *, replies: int = 1) -> list[dict[str, Any]]:
        """Deliver an update and wait for the bot's replies to that chat."""
        chat_id = _chat_of(update)
        before = len(self.emulator.sent_messages(chat_id))
        calls_before = len(self.emulator.calls)
        await self.deliver(update)
        deadline = asyncio.get_running_loop().time() + 10
        while len(self.emulator.sent_messages(chat_id)) < before + replies:
            if asyncio.get_running_loop().time() > deadline:
                recent = [c.method for c in self.emulator.calls[calls_before:]]
                raise TimeoutError(f"no reply in chat {chat_id}; calls since: {recent}")
            await asyncio.sleep(0.01)
        return self.emulator.sent_messages(chat_id)[before:]

    async def silently(self, update: dict[str, Any], *, user_id: int) -> None:
        """Deliver an update that should get no reply, and wait until it has been handled.

        Updates are handled one after another, so once a /help sent after it is answered, the
        first one is done; the caller then checks that nothing else was sent.
        """
        await self.deliver(update)
        await self.send(self.emulator.private_message(user_id, "/help"))

    async def add_fact_checks(self, *fact_checks: FactCheck) -> list[FactCheck]:
        async with self.newsroom.db.session() as session:
            for fact_check in fact_checks:
                session.add(fact_check)
        await self.newsroom.indexes.refresh(self.newsroom.db)
        return list(fact_checks)


def _chat_of(update: dict[str, Any]) -> int:
    if "message" in update:
        return update["message"]["chat"]["id"]
    return update["callback_query"]["message"]["chat"]["id"]


def rutte_fact_check() -> FactCheck:
    """The design's typical German debunk (demo data, example.org link)."""
    return FactCheck(
        url="https://example.org/faktencheck/rutte-nato-usa",
        claim_reviewed=(
            "NATO-Generalsekretär Mark Rutte hat gedroht, die USA aus der NATO auszuschließen, "
            "falls Trump die Ukraine an Putin übergibt."
        ),
        headline="Nein, Rutte hat nicht mit einem NATO-Ausschluss der USA gedroht",
        publisher="Demo Faktencheck (example)",
        rating="false",
        rating_text="Falsch",
        language="de",
        published_at=datetime(2024, 11, 12, tzinfo=UTC),
    )
