"""Prepared statements: what the session would do, without its layers (storage/prepared.py)."""

from __future__ import annotations

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


async def test_a_lost_postgres_connection_is_invalidated_and_replaced(postgres_url: str) -> None:
    db = Database(postgres_url, ping_after_idle_s=60)
    backend = Prepared(select(func.pg_backend_pid()))
    try:
        async with db.session() as session:
            (first,) = await backend.one(session, {})
        admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        with pytest.raises(DBAPIError) as failure:
            async with db.session() as session:
                await backend.one(session, {})
        assert failure.value.connection_invalidated
        async with db.session() as session:
            assert (await backend.one(session, {}))[0] != first
    finally:
        await db.dispose()


async def test_a_list_parameter_is_refused_when_first_run(database: Database) -> None:
    in_chats = Prepared(select(_tip.c.id).where(_tip.c.chat_id.in_(bindparam("chats"))))
    async with database.session() as session:
        with pytest.raises(ValueError, match="expanding"):
            await in_chats.rows(session, {"chats": [1, 2]})
