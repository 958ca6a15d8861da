"""The SQLite connection that runs each statement in one trip to its thread (storage._sqlite):
whatever SQLAlchemy asks of a cursor still comes back as sqlite3 gave it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def scratch(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
    async with db.session() as session:
        await session.exec(text("CREATE TABLE rumour (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    yield db
    await db.dispose()


async def test_rows_row_counts_and_new_ids_come_back(scratch: Database) -> None:
    async with scratch.session() as session:
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


async def test_a_refused_statement_raises_and_the_connection_goes_on(scratch: Database) -> None:
    insert = text("INSERT INTO rumour (body) VALUES ('once')")
    async with scratch.session() as session:
        await session.exec(insert)
    with pytest.raises(IntegrityError):
        async with scratch.session() as session:
            await session.exec(insert)
    async with scratch.session() as session:
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
