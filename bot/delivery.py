"""The outbox delivery loop: sends what the newsroom queued, within Telegram's limits.

Telegram allows a bot about 30 messages per second overall and one per second per chat; we
pace ourselves a little under ``DeliveryLimits`` so network jitter never pushes us over. A
``RetryAfter`` (429) pauses the whole loop for as long as Telegram asks and puts the message
back without counting an attempt. A 403 means the person blocked the bot: they are marked,
and nothing more is written to them. Network errors are retried with exponential backoff up
to ``max_attempts``, after which the message is failed with its last error kept.

Several processes may run the loop on one PostgreSQL: each takes its batch with an atomic
claim (``storage.outbox.claim_due_messages``), so no message is sent twice. The rate limits
are per loop; with N delivering processes, give each 1/N of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.metrics import TiplineMetrics
from handlers import replies
from handlers.desk import announce_claims
from handlers.i18n import pick_language, translator
from newsroom.intake import VerdictCard
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage
from storage.reporters import mark_reporter_blocked
from storage.types import utcnow

__all__ = [
    "DeliveryLimits",
    "OutboxDelivery",
    "RenderedMessage",
    "render_message",
    "start_sending",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryLimits:
    """How fast and how stubbornly the loop sends; the defaults are Telegram's limits."""

    messages_per_second: float = 25.0
    seconds_per_chat: float = 1.0
    # Pace this much under the limits, so jitter between here and Telegram never exceeds them.
    margin: float = 1.05
    max_attempts: int = 5
    backoff_seconds: float = 5.0
    max_backoff_seconds: float = 900.0
    batch_size: int = 50
    idle_seconds: float = 1.0
    lease_seconds: float = 300.0
    max_in_flight: int = 10


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    reply_to_message_id: int | None = None


class UnknownPayloadError(ValueError):
    """An outbox payload this version cannot render; it will never become sendable."""


def render_message(payload: dict[str, Any]) -> RenderedMessage:
    """The text of an outbox message, rendered now, in the recipient's language."""
    if payload.get("kind") != "verdict":
        raise UnknownPayloadError(f"unknown outbox message kind {payload.get('kind')!r}")
    fields = payload["fact_check"]
    published = fields.get("published_at")
    card = VerdictCard(
        fact_check_id=int(fields.get("id") or 0),
        url=fields["url"],
        rating=fields.get("rating") or "other",
        rating_text=fields.get("rating_text"),
        headline=fields.get("headline"),
        claim_reviewed=fields.get("claim_reviewed") or "",
        publisher=fields.get("publisher"),
        published_at=datetime.fromisoformat(published) if published else None,
    )
    tr = translator(pick_language(payload.get("language"), None))
    return RenderedMessage(
        text=replies.verdict_notification(tr, card),
        reply_to_message_id=payload.get("reply_to_message_id"),
    )


class _Pacer:
    """Spaces the starts of sends evenly: at most one per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            delay = self._next - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = loop.time() + self.interval

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that ``retry_after`` becomes a timedelta; both shapes are handled here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class OutboxDelivery:
    """One delivery loop: claim a batch, send it within the limits, record each outcome."""

    def __init__(
        self,
        bot: Bot,
        db: Database,
        limits: DeliveryLimits | None = None,
        render: Callable[[dict[str, Any]], RenderedMessage] = render_message,
        metrics: TiplineMetrics | None = None,
    ) -> None:
        self.bot = bot
        self.db = db
        self.limits = limits or DeliveryLimits()
        self.render = render
        self.metrics = metrics or TiplineMetrics()
        self._pacer = _Pacer(self.limits.margin / self.limits.messages_per_second)
        self._chat_ready: dict[int, float] = {}
        self._blocked: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a failing database is logged and retried."""
        while not stop.is_set():
            try:
                handled = await self.deliver_due()
            except Exception:
                log.exception("outbox delivery failed; retrying")
                handled = 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.limits.idle_seconds)

    async def deliver_due(self) -> int:
        """Send one batch of due messages; returns how many were handled (0: nothing due)."""
        lease = utcnow() + timedelta(seconds=self.limits.lease_seconds)
        async with self.db.session() as session:
            batch = await outbox.claim_due_messages(
                session, lease_until=lease, limit=self.limits.batch_size
            )
        if not batch:
            return 0
        self._blocked.clear()
        semaphore = asyncio.Semaphore(self.limits.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        waiting = list(batch)
        loop = asyncio.get_running_loop()
        # One message at a time per chat: the next waits until the last one's answer is in,
        # so a 403 (blocked) or a 429 is known before anything more is sent to that chat.
        sending: set[int] = set()
        while waiting:
            now = loop.time()
            message = next(
                (
                    m
                    for m in waiting
                    if m.chat_id not in sending and self._chat_ready.get(m.chat_id, 0.0) <= now
                ),
                None,
            )
            if message is None:
                free = [m for m in waiting if m.chat_id not in sending]
                earliest = min((self._chat_ready.get(m.chat_id, 0.0) for m in free), default=None)
                timeout = None if earliest is None else max(earliest - now, 0.0)
                if tasks:
                    await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(timeout or 0.0)
                continue
            waiting.remove(message)
            await semaphore.acquire()
            await self._pacer.wait()
            self._chat_ready[message.chat_id] = (
                loop.time() + self.limits.seconds_per_chat * self.limits.margin
            )
            sending.add(message.chat_id)
            task = asyncio.create_task(self._deliver(message, semaphore))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _, chat=message.chat_id: sending.discard(chat))
        if tasks:
            await asyncio.gather(*tasks)
        self._forget_idle_chats(loop.time())
        return len(batch)

    def _forget_idle_chats(self, now: float) -> None:
        for chat_id in [c for c, ready in self._chat_ready.items() if ready < now]:
            del self._chat_ready[chat_id]

    async def _deliver(self, message: OutboxMessage, semaphore: asyncio.Semaphore) -> None:
        try:
            if message.chat_id in self._blocked:
                return
            await self._send_and_record(message)
        finally:
            semaphore.release()

    async def _send_and_record(self, message: OutboxMessage) -> None:
        message_id = message.id or 0
        try:
            rendered = self.render(message.payload)
        except (UnknownPayloadError, KeyError, ValueError) as exc:
            self.metrics.outbox_failures.labels("unrenderable").inc()
            await self._record(outbox.mark_failed, message_id, error=f"unrenderable: {exc}")
            return
        reply = (
            ReplyParameters(rendered.reply_to_message_id, allow_sending_without_reply=True)
            if rendered.reply_to_message_id
            else None
        )
        try:
            await self.bot.send_message(
                message.chat_id,
                rendered.text,
                parse_mode=ParseMode.HTML,
                disable_web_page_preview=True,
                reply_parameters=reply,
            )
        except RetryAfter as exc:
            wait = _retry_after_seconds(exc)
            self._pacer.pause(wait)
            log.warning("Telegram asked to slow down for %.0f s", wait)
            self.metrics.outbox_retries.labels("rate_limited").inc()
            await self._record(
                outbox.defer_message,
                message_id,
                next_attempt_at=utcnow() + timedelta(seconds=wait),
                error=str(exc),
            )
        except Forbidden as exc:
            self.metrics.outbox_failures.labels("blocked").inc()
            self._blocked.add(message.chat_id)
            await self._blocked_by(message, str(exc))
        except BadRequest as exc:
            self.metrics.outbox_failures.labels("bad_request").inc()
            await self._record(outbox.mark_failed, message_id, error=f"bad request: {exc}")
        except (NetworkError, TelegramError) as exc:
            await self._retry_later(message, f"{type(exc).__name__}: {exc}")
        else:
            self.metrics.outbox_sent.inc()
            await self._record(outbox.mark_sent, message_id)

    async def _record(self, mark: Callable[..., Any], message_id: int, **fields: Any) -> None:
        async with self.db.session() as session:
            await mark(session, message_id, **fields)

    async def _blocked_by(self, message: OutboxMessage, error: str) -> None:
        """The recipient blocked the bot: remember it and drop what still waits for them."""
        async with self.db.session() as session:
            await outbox.mark_failed(session, message.id or 0, error=f"blocked: {error}")
            await mark_reporter_blocked(session, message.chat_id)
            await outbox.cancel_pending_for_chat(
                session, message.chat_id, reason="recipient blocked the bot"
            )
        log.info("outbox message %s: the recipient blocked the bot", message.id)

    async def _retry_later(self, message: OutboxMessage, error: str) -> None:
        attempts = message.attempts + 1
        if attempts >= self.limits.max_attempts:
            log.warning("outbox message %s failed after %d attempts", message.id, attempts)
            self.metrics.outbox_failures.labels("gave_up").inc()
            await self._record(outbox.mark_failed, message.id or 0, error=error)
            return
        self.metrics.outbox_retries.labels("network").inc()
        delay = min(
            self.limits.backoff_seconds * 2 ** (attempts - 1), self.limits.max_backoff_seconds
        )
        await self._record(
            outbox.mark_retry,
            message.id or 0,
            error=error,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )


ALERT_ROUND_SECONDS = 5.0


async def _announce_rounds(bot: Bot, db: Database, chat_id: int, stop: asyncio.Event) -> None:
    """Newsroom alerts every few seconds: a burst of forwards becomes one alert per claim."""
    while not stop.is_set():
        try:
            await announce_claims(bot, db, chat_id)
        except Exception:
            log.exception("newsroom alerts failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ALERT_ROUND_SECONDS)


def start_sending(
    bot: Bot,
    db: Database,
    newsroom_chat_id: int | None,
    stop: asyncio.Event,
    metrics: TiplineMetrics | None = None,
) -> list[asyncio.Task[None]]:
    """The outbox delivery loop and, with a newsroom group configured, its alert rounds."""
    delivery = OutboxDelivery(bot, db, metrics=metrics)
    tasks = [asyncio.create_task(delivery.run(stop), name="outbox-delivery")]
    if newsroom_chat_id is not None:
        tasks.append(
            asyncio.create_task(
                _announce_rounds(bot, db, newsroom_chat_id, stop), name="newsroom-alerts"
            )
        )
    return tasks
