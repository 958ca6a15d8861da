"""From Telegram to the handlers without losing an update: record first, then process.

Polling records a batch of updates in the ``inbound_update`` inbox before it asks for the
next ``offset``; a processing loop leases recorded updates, runs them through the PTB
``Application`` (updates of different chats concurrently, up to a bound; of one chat in
order) and marks them processed in the same transaction that leases the next ones. While an
update is in flight its lease is renewed, so another worker takes it only from a worker that
died (or lost the database for longer than the lease); intake is idempotent on chat and
message id, so an update handled twice still counts once.

A webhook request records its update and leases it in one step, handles it at once and puts
the sender's answer in its 200 (:meth:`UpdatePipeline.handle_delivery`), so the answer and
Telegram's acknowledgement are one event: a crash before the 200 makes Telegram redeliver,
and the redelivery is answered; a delivery that got its 200 is never redelivered. The loop
then only takes webhook updates Telegram stopped redelivering (older than ``leave_to_telegram``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.error import NetworkError, RetryAfter
from telegram.ext import Application

from bot.batching import Batched
from handlers.common import WebhookResponse, webhook_response
from storage.db import Database
from storage.inbox import (
    Answered,
    LeasedUpdate,
    Redelivered,
    lease_pending_updates,
    mark_updates_answered,
    mark_updates_processed,
    record_updates,
    renew_leases,
    retry_update_later,
    take_updates,
)
from storage.tips import mark_replies_sent
from storage.types import utcnow

__all__ = [
    "UpdateBusyError",
    "UpdatePipeline",
    "is_transient",
    "report_transient_failure",
    "sleep_unless",
]

log = logging.getLogger(__name__)

# An update that failed this often (each time a worker took it and died, or the database
# failed under it) is given up on, so that one poisonous update cannot stall a chat forever.
MAX_ATTEMPTS = 8


@dataclass
class _Outcome:
    transient_failure: bool = False


_outcome: ContextVar[_Outcome | None] = ContextVar("update_outcome", default=None)


class UpdateBusyError(Exception):
    """The update cannot be handled now (another worker holds it, a transient failure, or
    this worker is stopping): Telegram is to deliver it again later."""


def is_transient(error: BaseException) -> bool:
    """Errors that say "try again later" (database or network away), not "this update is bad"."""
    return isinstance(error, SQLAlchemyError | OSError | TimeoutError | NetworkError | RetryAfter)


def report_transient_failure() -> None:
    """Called by the error handler: the update being processed is to be retried, not dropped."""
    outcome = _outcome.get()
    if outcome is not None:
        outcome.transient_failure = True


def _chat_of(payload: dict[str, Any]) -> int | None:
    for key in ("message", "edited_message", "channel_post", "callback_query", "my_chat_member"):
        part = payload.get(key)
        if isinstance(part, dict):
            chat = part.get("chat") or (part.get("message") or {}).get("chat") or part.get("from")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return chat["id"]
    sender = (payload.get("inline_query") or {}).get("from")
    return sender.get("id") if isinstance(sender, dict) else None


class UpdatePipeline:
    """Records updates durably and processes them: per chat in order, across chats at once."""

    def __init__(
        self,
        application: Application,
        db: Database,
        *,
        concurrency: int = 16,
        lease: timedelta = timedelta(seconds=30),
        retry_delay: timedelta = timedelta(seconds=2),
        look_again: timedelta = timedelta(seconds=1),
        leave_to_telegram: timedelta | None = None,
    ) -> None:
        self.application = application
        self.db = db
        self.concurrency = concurrency
        self.lease = lease
        self.retry_delay = retry_delay
        self.look_again = look_again
        self.leave_to_telegram = leave_to_telegram
        self._stop: asyncio.Event | None = None
        self._answering: set[asyncio.Task[Any]] = set()
        # Webhook deliveries handled at once; more wait their turn (Telegram's own bound is
        # TIPLINE_WEBHOOK_MAX_CONNECTIONS per bot, across all workers).
        self._delivery_slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        # Updates in flight, by id and attempt: the leases this worker renews.
        self._held: dict[tuple[int, int], LeasedUpdate] = {}
        self._chat_locks: dict[int | None, asyncio.Lock] = {}
        # Updates handled but not yet marked processed, by whether they were given up on.
        self._finished: dict[bool, list[int]] = {False: [], True: []}
        # Webhook deliveries arriving together are taken, and marked answered, together.
        self._take = Batched(self._take_deliveries)
        self._mark_answered = Batched(self._mark_deliveries_answered)

    async def record(self, payloads: Sequence[dict[str, Any]]) -> int:
        """Commit updates to the inbox returns how many are new."""
        async with self.db.session(quick=True) as session:
            new = await record_updates(session, payloads)
        self._wake.set()
        return new

    async def handle_delivery(
        self, payload: dict[str, Any], update: Update | None = None
    ) -> dict[str, Any] | None:
        """Record and handle a webhook's update now; returns the call for its 200 to carry.

        ``update`` is the payload as PTB reads it, when the caller has read it already.
        A redelivery of an update already handled gets the same call again: Telegram
        redelivers only what did not get its 200, so that call was never made. Raises
        :class:`UpdateBusyError` when the update is to be delivered again later, and the
        database's errors when it is away (both mean a 503).
        """
        if self._stop is not None and self._stop.is_set():
            raise UpdateBusyError("stopping")
        task = asyncio.current_task()
        if task is not None:
            self._answering.add(task)
        try:
            # The update is taken only in its turn: one waiting here holds no lease, so a kill
            # strands none but those being handled.
            async with self._delivery_slots:
                taken = await self._take(payload)
                if isinstance(taken, Redelivered):
                    return taken.answer
                if taken is None:
                    raise UpdateBusyError("held by another worker")
                response = WebhookResponse()
                handled = await self._process(taken, response, update)
            if not handled:
                raise UpdateBusyError("transient failure")
            gave_up = taken.attempts > MAX_ATTEMPTS
            await self._mark_answered((Answered(taken.update_id, gave_up, response.call), response))
            return response.call
        finally:
            self._answering.discard(task)

    async def _take_deliveries(
        self, payloads: list[dict[str, Any]]
    ) -> list[LeasedUpdate | Redelivered | None]:
        async with self.db.session(quick=True) as session:
            return await take_updates(session, payloads, lease=self.lease)

    async def _mark_deliveries_answered(
        self, answers: list[tuple[Answered, WebhookResponse]]
    ) -> list[None]:
        """Updates and the tips they answered, recorded as answered before the 200s go."""
        async with self.db.session(urgent=True, quick=True) as session:
            await mark_updates_answered(session, [answered for answered, _ in answers])
            tips = [response.tip_id for _, response in answers if response.tip_id is not None]
            await mark_replies_sent(session, tips, at=utcnow())
        return [None] * len(answers)

    async def run(self, stop: asyncio.Event) -> None:
        """Process recorded updates until ``stop``; then let the ones in flight finish."""
        self._stop = stop
        finished = asyncio.Event()
        renewing = asyncio.create_task(self._renew_leases(finished), name="lease-renewal")
        try:
            await self._take_and_process(stop)
            if self._answering:
                await asyncio.gather(*self._answering, return_exceptions=True)
        finally:
            finished.set()
            await renewing

    async def _take_and_process(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            # Cleared before looking, not before waiting: an update recorded while the lease
            # ran must wake the next wait, or it waited until ``look_again``.
            self._wake.clear()
            free = self.concurrency - len(self._in_flight)
            leased: list[LeasedUpdate] = []
            if free > 0:
                try:
                    async with self.db.session(quick=True) as session:
                        await self._mark_finished(session)
                        leased = await lease_pending_updates(
                            session,
                            limit=free,
                            lease=self.lease,
                            received_before=self._left_to_telegram_since(),
                        )
                    failures = 0
                except (SQLAlchemyError, OSError) as error:
                    failures += 1
                    log.warning("update inbox unreachable (%s); retrying", type(error).__name__)
                    await sleep_unless(stop, min(2.0**failures / 4, 10.0))
                    continue
            for update in leased:
                self._spawn(update)
            if not leased or free <= 0:
                await self._wait_for_work(stop)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        with contextlib.suppress(SQLAlchemyError, OSError):
            async with self.db.session() as session:
                await self._mark_finished(session)

    def _left_to_telegram_since(self) -> datetime | None:
        if self.leave_to_telegram is None:
            return None
        return utcnow() - self.leave_to_telegram

    async def _mark_finished(self, session: AsyncSession) -> None:
        """Mark the updates handled since the last call processed, within ``session``.

        Until its transaction commits they stay pending; if it never does, their leases run
        out and they are handled again, which intake's idempotence makes harmless.
        """
        finished, self._finished = self._finished, {False: [], True: []}
        try:
            for gave_up, update_ids in finished.items():
                await mark_updates_processed(session, update_ids, gave_up=gave_up)
        except BaseException:
            for gave_up, update_ids in finished.items():
                self._finished[gave_up].extend(update_ids)
            raise

    async def _renew_leases(self, finished: asyncio.Event) -> None:
        """Renew the leases of updates in flight a few times per lease, until ``finished``.

        Without this an update that waited for its chat's turn, or for a slow Telegram, longer
        than the lease was taken by a second worker while the first was still on it: both
        answered the sender.
        """
        while not finished.is_set():
            await sleep_unless(finished, self.lease.total_seconds() / 3)
            held = list(self._held.values())
            if not held:
                continue
            try:
                async with self.db.session() as session:
                    renewed = await renew_leases(session, held, until=utcnow() + self.lease)
            except (SQLAlchemyError, OSError) as error:
                log.warning("update leases not renewed (%s)", type(error).__name__)
                continue
            for lost in held:
                if lost.update_id not in renewed and (lost.update_id, lost.attempts) in self._held:
                    log.warning("update %s: lease taken by another worker", lost.update_id)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        # Also look again now and then: another worker's lease may have run out.
        timeout = self.look_again.total_seconds()
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    def _lock_for(self, chat_id: int | None) -> asyncio.Lock:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    def _spawn(self, leased: LeasedUpdate) -> None:
        async def process() -> None:
            if await self._process(leased):
                self._finished[leased.attempts > MAX_ATTEMPTS].append(leased.update_id)

        task = asyncio.create_task(process())
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    async def _process(
        self,
        leased: LeasedUpdate,
        response: WebhookResponse | None = None,
        update: Update | None = None,
    ) -> bool:
        """Handle a leased update in its chat's turn; False if it is to be retried later."""
        self._held[leased.update_id, leased.attempts] = leased
        chat_id = _chat_of(leased.payload)
        lock = self._lock_for(chat_id)
        try:
            async with lock:
                outcome = _Outcome()
                try:
                    if leased.attempts > MAX_ATTEMPTS:
                        log.error(
                            "update %s given up after %d attempts", leased.update_id, MAX_ATTEMPTS
                        )
                    else:
                        await self._handle(leased, outcome, response, update)
                finally:
                    self._held.pop((leased.update_id, leased.attempts), None)
                if outcome.transient_failure:
                    # A webhook's update is due at once: Telegram paces the redelivery.
                    await self._retry_later(leased, now=response is not None)
                    return False
                return True
        finally:
            if not lock.locked() and self._chat_locks.get(chat_id) is lock:
                del self._chat_locks[chat_id]

    async def _handle(
        self,
        leased: LeasedUpdate,
        outcome: _Outcome,
        response: WebhookResponse | None,
        update: Update | None,
    ) -> None:
        token = _outcome.set(outcome)
        answer_token = webhook_response.set(response)
        try:
            if update is None:
                update = Update.de_json(leased.payload, self.application.bot)
            await self.application.process_update(update)
        except Exception as error:
            # Handler errors go to the error handler; this is an update PTB cannot read.
            log.error("update %s unreadable: %s", leased.update_id, type(error).__name__)
        finally:
            webhook_response.reset(answer_token)
            _outcome.reset(token)

    async def _retry_later(self, leased: LeasedUpdate, *, now: bool = False) -> None:
        """A transient failure: the update is due again after ``retry_delay`` (or ``now``)."""
        at = utcnow() if now else utcnow() + self.retry_delay
        try:
            async with self.db.session() as session:
                await retry_update_later(session, leased.update_id, at=at)
        except (SQLAlchemyError, OSError):
            # The database is away: the lease runs out and the update is processed again.
            log.warning("update %s: not rescheduled; it will be retried", leased.update_id)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake up at once when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
