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
