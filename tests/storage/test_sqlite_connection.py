"""The SQLite connection that runs each statement in one trip to its thread, or on the loop
for a quick session (storage._sqlite): whatever SQLAlchemy asks of a cursor still comes back
as sqlite3 gave it, and a lock held by another process is never waited for on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage._sqlite import connector_for
from storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def scratch(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
    async with db.session() as session:
        await session.exec(text("CREATE TABLE rumour (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    yield db
    await db.dispose()


@pytest.mark.parametrize("quick", [False, True])
async def test_rows_row_counts_and_new_ids_come_back(scratch: Database, quick: bool) -> None:
    async with scratch.session(quick=quick) as session:
        connection = await session.connection()
        inserted = await connection.execute(
            text("INSERT INTO rumour (body) VALUES (:body)"), {"body": "the river is poisoned"}
        )
        assert inserted.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO rumour (body) VALUES (:body)"),
            [{"body": f"rumour {n}"} for n in range(5)],
        )
        assert many.rowcount == 5
        changed = await connection.execute(
            text("UPDATE rumour SET body = body || '!' WHERE body LIKE 'rumour %'")
        )
        assert changed.rowcount == 5
        rows = (await connection.execute(text("SELECT id, body FROM rumour ORDER BY id"))).all()
    assert [tuple(row) for row in rows] == [
        (1, "the river is poisoned"),
        *((n + 2, f"rumour {n}!") for n in range(5)),
    ]


async def test_a_statement_without_rows_gives_none(scratch: Database) -> None:
    async with scratch.session() as session:
        result = await session.exec(text("SELECT body FROM rumour WHERE id = -1"))
        assert result.first() is None


async def test_streamed_rows_arrive_in_order_in_chunks(scratch: Database) -> None:
    async with scratch.session() as session:
        connection = await session.connection()
        await connection.execute(
            text("INSERT INTO rumour (body) VALUES (:body)"),
            [{"body": f"{n:04d}"} for n in range(250)],
        )
        streamed = await connection.stream(text("SELECT body FROM rumour ORDER BY body"))
        chunks = []
        async for chunk in streamed.partitions(64):
            chunks.append(chunk)
            if len(chunks) > 4:  # a cursor that never runs dry fails here, not hangs
                break
    assert [len(chunk) for chunk in chunks] == [64, 64, 64, 58]
    assert [row.body for chunk in chunks for row in chunk] == [f"{n:04d}" for n in range(250)]


@pytest.mark.parametrize("quick", [False, True])
async def test_a_refused_statement_raises_and_the_connection_goes_on(
    scratch: Database, quick: bool
) -> None:
    insert = text("INSERT INTO rumour (body) VALUES ('once')")
    async with scratch.session(quick=quick) as session:
        await session.exec(insert)
    with pytest.raises(IntegrityError):
        async with scratch.session(quick=quick) as session:
            await session.exec(insert)
    async with scratch.session(quick=quick) as session:
        count = (await session.exec(text("SELECT count(*) FROM rumour"))).scalar_one()
    assert count == 1


async def test_url_options_reach_sqlite(scratch: Database, tmp_path: Path) -> None:
    """A read-only URI (``mode=ro``) opens the file read-only: the URL is sqlite3's."""
    path = tmp_path / "scratch.db"
    read_only = Database(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        async with read_only.session() as session:
            assert (await session.exec(text("SELECT count(*) FROM rumour"))).scalar_one() == 0
        with pytest.raises(OperationalError, match="readonly"):
            async with read_only.session() as session:
                await session.exec(text("INSERT INTO rumour (body) VALUES ('no')"))
    finally:
        await read_only.dispose()


async def test_a_quick_session_runs_its_statements_on_the_loop_and_others_on_the_thread(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}")

    def _thread_of_sql(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_of_sql", 0, threading.get_ident)

    event.listen(db.engine.sync_engine, "connect", _thread_of_sql)
    where = text("SELECT thread_of_sql()")
    try:
        async with db.session(quick=True) as session:
            quick = (await session.exec(where)).scalar_one()
        async with db.session() as session:
            other = (await session.exec(where)).scalar_one()
    finally:
        await db.dispose()
    assert quick == threading.get_ident()
    assert other != threading.get_ident()


@pytest.fixture
def lock_held_elsewhere(scratch: Database, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection, in the middle of a write: SQLite's only write lock."""
    other = sqlite3.connect(tmp_path / "scratch.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO rumour (body) VALUES ('written elsewhere')")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


async def _insert(db: Database, body: str) -> None:
    async with db.session(quick=True) as session:
        await session.exec(text("INSERT INTO rumour (body) VALUES (:body)"), params={"body": body})


async def test_a_quick_write_waits_for_a_lock_held_elsewhere_off_the_loop(
    scratch: Database, lock_held_elsewhere: sqlite3.Connection
) -> None:
    writing = asyncio.create_task(_insert(scratch, "written here"))
    for _ in range(5):
        await asyncio.sleep(0.02)  # the loop goes on meanwhile
    assert not writing.done()
    lock_held_elsewhere.execute("COMMIT")
    await asyncio.wait_for(writing, timeout=5)
    async with scratch.session(quick=True) as session:
        bodies = (await session.exec(text("SELECT body FROM rumour ORDER BY id"))).scalars().all()
    assert bodies == ["written elsewhere", "written here"]


async def test_a_write_gives_up_when_a_lock_outlasts_its_patience(
    scratch: Database, lock_held_elsewhere: sqlite3.Connection, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
    impatient = Database(url, async_creator=connector_for(url, patience=0.1))
    try:
        with pytest.raises(OperationalError, match="locked"):
            await asyncio.wait_for(_insert(impatient, "never written"), timeout=5)
    finally:
        await impatient.dispose()
