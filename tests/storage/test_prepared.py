"""Prepared statements: what the session would do, without its layers (storage/prepared.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select as select_model

from storage.db import Database
from storage.models import Reporter, Tip
from storage.prepared import Prepared

pytestmark = pytest.mark.asyncio(loop_scope="session")

_tip = Tip.__table__
_ADD_TIP = Prepared(insert(_tip).returning(*_tip.columns))
_TIPS_IN_CHAT = Prepared(
    select(_tip).where(_tip.c.chat_id == bindparam("chat")).order_by(_tip.c.id)
)
_REPORTERS = Prepared(select(func.count()).select_from(Reporter.__table__))


async def test_values_go_in_and_come_back_as_through_the_session(database: Database) -> None:
    values = {
        "chat_id": 10**12,  # beyond int4, as Telegram's ids are
        "message_id": 1,
        "received_at": datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
        "text": "Behauptung: <b>x</b> ‮",
        "normalized_text": "behauptung x",
        "language": None,
        "simhash": -(2**63),
        "links": ["https://example.org/a?b=1", "ä"],
        "match_score": 0.8125,
        "forward_date": datetime(2026, 2, 28, 23, 0, tzinfo=UTC) - timedelta(microseconds=1),
    }
    async with database.session() as session:
        added = await _ADD_TIP.one(session, values)
    async with database.session() as session:
        loaded = (await session.exec(select_model(Tip))).one()
        (read,) = await _TIPS_IN_CHAT.rows(session, {"chat": 10**12})
    as_loaded = loaded.model_dump()
    assert added._asdict() == as_loaded
    assert read._asdict() == as_loaded
    assert read.received_at == values["received_at"]
    assert read.received_at.tzinfo is not None
    assert read.links == values["links"]
    assert isinstance(read.match_score, float)


async def test_columns_left_out_get_their_python_defaults(database: Database) -> None:
    async with database.session() as session:
        first = await _ADD_TIP.one(session, {"chat_id": 1, "message_id": 1})
        second = await _ADD_TIP.one(session, {"chat_id": 1, "message_id": 2})
    assert (first.text, first.normalized_text, first.links) == ("", "", [])
    assert first.links is not second.links  # a callable default is called for each row
    assert first.received_at <= second.received_at
    assert datetime.now(UTC) - second.received_at < timedelta(minutes=1)


async def test_they_run_in_the_session_transaction(database: Database) -> None:
    async def add_then_fail() -> None:
        async with database.session() as session:
            await _ADD_TIP.run(session, {"chat_id": 2, "message_id": 1})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await add_then_fail()
    async with database.session() as session:
        assert await _TIPS_IN_CHAT.rows(session, {"chat": 2}) == []
        # What the ORM holds is flushed first, as the session does before a statement.
        session.add(Reporter(telegram_user_id=7))
        assert (await _REPORTERS.one(session, {}))[0] == 1


async def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(database: Database) -> None:
    async with database.session() as session:
        await _ADD_TIP.run(session, {"chat_id": 3, "message_id": 1})
    with pytest.raises(IntegrityError) as failure:
        async with database.session() as session:
            await _ADD_TIP.run(session, {"chat_id": 3, "message_id": 1})
    assert "INSERT INTO tip" in str(failure.value)
    async with database.session() as session:  # the connection went back to the pool usable
        assert len(await _TIPS_IN_CHAT.rows(session, {"chat": 3})) == 1


_BACKEND = Prepared(select(func.pg_backend_pid()))


async def _backends_at_once(db: Database) -> set[int]:
    """The server processes of two sessions held at the same time: two pooled connections."""

    async def backend() -> int:
        async with db.session() as session:
            (pid,) = await _BACKEND.one(session, {})
            await asyncio.sleep(0.1)
            return int(pid)

    return set(await asyncio.gather(backend(), backend()))


async def test_a_lost_postgres_server_renews_every_pooled_connection(postgres_url: str) -> None:
    # As SQLAlchemy does: one connection found lost means the server went away, and the
    # other pooled connections would each fail a forward in turn.
    db = Database(postgres_url, ping_after_idle_s=60)
    try:
        before = await _backends_at_once(db)
        assert len(before) == 2
        admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", min(before))
        finally:
            await admin.close()
        failures = []
        for _ in before:  # the pool hands out the lost one first or second
            try:
                async with db.session() as session:
                    await _BACKEND.one(session, {})
            except DBAPIError as failure:
                failures.append(failure)
        assert [failure.connection_invalidated for failure in failures] == [True]
        assert not (await _backends_at_once(db)) & before
    finally:
        await db.dispose()


async def test_a_list_parameter_is_refused_when_first_run(database: Database) -> None:
    in_chats = Prepared(select(_tip.c.id).where(_tip.c.chat_id.in_(bindparam("chats"))))
    async with database.session() as session:
        with pytest.raises(ValueError, match="expanding"):
            await in_chats.rows(session, {"chats": [1, 2]})


async def test_a_cancelled_postgres_statement_leaves_no_broken_connection(
    postgres_url: str,
) -> None:
    # A worker stopping cancels its updates mid-statement; the connection then goes back
    # to the pool mid-query unless it is dropped, as SQLAlchemy drops it.
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    slow = Prepared(select(func.pg_sleep(5)))

    async def sleep_in_a_transaction() -> None:
        async with db.session() as session:
            await slow.rows(session, {})

    try:
        async with db.session() as session:
            (first,) = await _BACKEND.one(session, {})
        sleeping = asyncio.create_task(sleep_in_a_transaction())
        await asyncio.sleep(0.3)
        sleeping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeping
        async with asyncio.timeout(2), db.session() as session:
            assert (await _BACKEND.one(session, {}))[0] != first
    finally:
        await db.dispose()
