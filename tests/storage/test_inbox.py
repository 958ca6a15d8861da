"""The update inbox, on SQLite and on PostgreSQL: record once, lease exclusively, forget."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import inbox
from storage.db import Database
from storage.models import InboundUpdate, InboundUpdateStatus
from storage.types import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEASE = timedelta(seconds=30)


def _update(update_id: int, chat_id: int = 1) -> dict[str, object]:
    return {"update_id": update_id, "message": {"message_id": 1, "chat": {"id": chat_id}}}


async def _lease(db: Database, limit: int = 10, **options: object) -> list[inbox.LeasedUpdate]:
    async with db.session() as session:
        return await inbox.lease_pending_updates(session, limit=limit, lease=LEASE, **options)


async def test_an_update_recorded_twice_is_stored_once(database: Database) -> None:
    async with database.session() as session:
        assert await inbox.record_updates(session, [_update(1), _update(2)]) == 2
    async with database.session() as session:
        assert await inbox.record_updates(session, [_update(2), _update(3)]) == 1
        rows = (await session.exec(select(InboundUpdate))).all()
    assert sorted(row.update_id for row in rows) == [1, 2, 3]


async def test_leases_are_exclusive_oldest_first_and_run_out(database: Database) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [_update(n) for n in (12, 10, 11)])
    first = await _lease(database, limit=2)
    assert [(u.update_id, u.attempts) for u in first] == [(10, 1), (11, 1)]
    assert first[0].payload == _update(10)
    assert [u.update_id for u in await _lease(database)] == [12]
    assert await _lease(database) == []
    later = await _lease(database, now=utcnow() + LEASE + timedelta(seconds=1))
    assert [(u.update_id, u.attempts) for u in later] == [(10, 2), (11, 2), (12, 2)]


async def test_processed_updates_drop_their_payload_and_are_not_leased(database: Database) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [_update(1), _update(2)])
    await _lease(database)
    async with database.session() as session:
        await inbox.mark_updates_processed(session, [1])
        await inbox.mark_updates_processed(session, [2], gave_up=True)
    async with database.session() as session:
        rows = {r.update_id: r for r in (await session.exec(select(InboundUpdate))).all()}
    assert (rows[1].status, rows[1].payload) == (InboundUpdateStatus.DONE, None)
    assert rows[2].status == InboundUpdateStatus.FAILED
    assert await _lease(database, now=utcnow() + 2 * LEASE) == []


async def test_a_transient_failure_makes_the_update_due_again(database: Database) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [_update(5)])
    await _lease(database)
    async with database.session() as session:
        await inbox.retry_update_later(session, 5, at=utcnow() + timedelta(seconds=2))
    assert await _lease(database) == []
    [again] = await _lease(database, now=utcnow() + timedelta(seconds=3))
    assert (again.update_id, again.attempts) == (5, 2)


async def test_forgetting_processed_updates_keeps_pending_ones(database: Database) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [_update(1), _update(2)])
        await inbox.mark_updates_processed(session, [1])
    async with database.session() as session:
        assert await inbox.forget_processed_updates(session, older_than=utcnow() - LEASE) == 0
        forgotten = await inbox.forget_processed_updates(session, older_than=utcnow() + LEASE)
    assert forgotten == 1
    assert [u.update_id for u in await _lease(database)] == [2]


async def test_concurrent_leases_never_share_an_update(database: Database) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [_update(n) for n in range(200)])
    batches = await asyncio.gather(*(_lease(database, limit=30) for _ in range(8)))
    taken = [u.update_id for batch in batches for u in batch]
    assert len(taken) == len(set(taken)) == 200


async def _take(db: Database, update_id: int, lease: timedelta = LEASE) -> object:
    async with db.session() as session:
        return await inbox.take_update(session, _update(update_id), lease=lease)


async def test_a_webhook_delivery_takes_its_update_once_until_it_is_answered(
    database: Database,
) -> None:
    first = await _take(database, 7)
    assert first == inbox.LeasedUpdate(7, _update(7), 1)
    assert await _take(database, 7) is None  # held: the redelivery must wait
    assert await _lease(database) == []  # nor does the update loop take it
    answer = {"method": "sendMessage", "chat_id": 1, "text": "Thank you!"}
    async with database.session() as session:
        await inbox.mark_updates_processed(session, [7], answer=answer)
    assert await _take(database, 7) == inbox.Redelivered(answer)
    async with database.session() as session:
        await inbox.record_updates(session, [_update(8)])
        await inbox.mark_updates_processed(session, [8])
    assert await _take(database, 8) == inbox.Redelivered(None)


async def test_a_redelivery_takes_over_an_update_whose_lease_ran_out(database: Database) -> None:
    assert await _take(database, 9, lease=timedelta(milliseconds=1)) is not None
    await asyncio.sleep(0.01)  # the worker that took it died
    again = await _take(database, 9)
    assert again == inbox.LeasedUpdate(9, _update(9), 2)
    assert await _take(database, 9) is None


async def test_the_update_loop_can_leave_young_updates_to_redelivery(database: Database) -> None:
    async with database.session() as session:
        await inbox.record_updates(session, [_update(1)])
    assert await _lease(database, received_before=utcnow() - LEASE) == []
    [old] = await _lease(database, received_before=utcnow() + timedelta(seconds=1))
    assert old.update_id == 1


async def test_a_batch_of_deliveries_is_taken_each_by_what_it_is(database: Database) -> None:
    """New, repeated within the batch, processed, held and stranded updates, in one call."""
    async with database.session() as session:
        await inbox.record_updates(session, [_update(21)])
        await inbox.mark_updates_processed(session, [21], answer={"method": "sendMessage"})
    assert await _take(database, 22) is not None  # held by another delivery
    assert await _take(database, 23, lease=timedelta(milliseconds=1)) is not None
    await asyncio.sleep(0.01)  # the worker holding 23 died
    payloads = [_update(n) for n in (24, 21, 22, 23, 25, 24)]
    async with database.session() as session:
        taken = await inbox.take_updates(session, payloads, lease=LEASE)
    assert taken == [
        inbox.LeasedUpdate(24, _update(24), 1),
        inbox.Redelivered({"method": "sendMessage"}),
        None,
        inbox.LeasedUpdate(23, _update(23), 2),
        inbox.LeasedUpdate(25, _update(25), 1),
        None,  # the same update twice in one batch: the first delivery holds it
    ]
    async with database.session() as session:
        assert await inbox.take_updates(session, [], lease=LEASE) == []


async def test_deliveries_answered_together_keep_each_their_own_answer(
    database: Database,
) -> None:
    for update_id in (31, 32, 33):
        await _take(database, update_id)
    answers = {31: {"method": "sendMessage", "chat_id": 1, "text": "one"}, 32: None}
    async with database.session() as session:
        await inbox.mark_updates_answered(
            session,
            [inbox.Answered(31, answer=answers[31]), inbox.Answered(32), inbox.Answered(33, True)],
        )
        await inbox.mark_updates_answered(session, [])
    assert await _take(database, 31) == inbox.Redelivered(answers[31])
    assert await _take(database, 32) == inbox.Redelivered(None)
    async with database.session() as session:
        rows = {r.update_id: r for r in (await session.exec(select(InboundUpdate))).all()}
    assert [rows[n].status for n in (31, 32, 33)] == [
        InboundUpdateStatus.DONE,
        InboundUpdateStatus.DONE,
        InboundUpdateStatus.FAILED,
    ]
    assert all(rows[n].payload is None and rows[n].leased_until is None for n in (31, 32, 33))
