"""What one SQL statement costs the worker: the floor under every tip's transactions.

The same query four ways, 2,000 times in one session on an empty ``tip`` table: through the
ORM as intake wrote it (``session.exec(select(...))``), an ORM query returning a ``Claim``,
the SQL text on the session's connection, and as the hot path runs it now
(``storage.prepared``, on the session's driver connection). Then a whole short transaction,
as the other sessions run, as a quick one (the hot path's, on the event loop on SQLite), and
as a quick one with the prepared statement. Last, the floor under all of them: the same SQL
on the driver alone (sqlite3, or an asyncpg prepared statement), with no SQLAlchemy. CPU is
the process's (the event loop and aiosqlite's thread together).

    .venv/bin/python bench/statement_cost.py                                   # SQLite file
    .venv/bin/python bench/statement_cost.py postgresql+asyncpg://postgres@127.0.0.1/empty_db
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from sqlalchemy import bindparam, func, text
from sqlalchemy import select as select_columns
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database, upgrade_database
from storage.models import Claim, Tip
from storage.prepared import Prepared

REPEATS = 2000
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


async def _orm_count(session: AsyncSession) -> object:
    statement = (
        select(func.count()).select_from(Tip).where(Tip.reporter_id == 1, Tip.received_at >= SINCE)
    )
    return (await session.exec(statement)).one()


async def _orm_claim(session: AsyncSession) -> object:
    statement = (
        select(Claim).join(Tip, col(Tip.claim_id) == Claim.id).where(Tip.content_hash == "x")
    )
    return (await session.exec(statement.limit(1))).first()


_PREPARED_COUNT = Prepared(
    select_columns(func.count())
    .select_from(Tip.__table__)
    .where(Tip.__table__.c.reporter_id == 1, Tip.__table__.c.received_at >= bindparam("since"))
)


async def _prepared(session: AsyncSession) -> object:
    return (await _PREPARED_COUNT.one(session, {"since": SINCE}))[0]


async def _sql_text(session: AsyncSession) -> object:
    connection = await session.connection()
    query = text("SELECT count(*) FROM tip WHERE reporter_id = :r AND received_at >= :s")
    return (await connection.execute(query, {"r": 1, "s": SINCE})).scalar()


async def measure(url: str) -> None:
    await upgrade_database(url)
    db = Database(url)
    ways: dict[str, Callable[[AsyncSession], Awaitable[object]]] = {
        "ORM count": _orm_count,
        "ORM select of a Claim": _orm_claim,
        "SQL text": _sql_text,
        "prepared (storage.prepared)": _prepared,
    }
    for name, statement in ways.items():
        async with db.session() as session:
            for _ in range(100):
                await statement(session)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(REPEATS):
                await statement(session)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{name:28s} {cpu / REPEATS * 1000:.3f} ms CPU, {wall / REPEATS * 1000:.3f} ms wall")
    transactions = (
        ("transaction of one", False, _orm_count),
        ("quick transaction of one", True, _orm_count),
        ("quick, prepared", True, _prepared),
    )
    for name, quick, statement in transactions:
        cpu = time.process_time()
        for _ in range(REPEATS // 4):
            async with db.session(quick=quick) as session:
                await statement(session)
        per_transaction = (time.process_time() - cpu) / (REPEATS // 4) * 1000
        print(f"{name:28s} {per_transaction:.3f} ms CPU")
    await db.dispose()
    cpu = time.process_time()
    await _driver_alone(url)
    print(f"{'driver alone':28s} {(time.process_time() - cpu) / REPEATS * 1000:.3f} ms CPU")


async def _driver_alone(url: str) -> None:
    """The count, ``REPEATS`` times, on the database's own driver: what SQLAlchemy adds to."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database or "")
        query = "SELECT count(*) FROM tip WHERE reporter_id = ? AND received_at >= ?"
        for _ in range(REPEATS):
            connection.execute(query, (1, "2020-01-01 00:00:00.000000")).fetchall()
        connection.close()
        return
    server = await asyncpg.connect(parsed.set(drivername="postgresql").render_as_string(False))
    count = await server.prepare(
        "SELECT count(*) FROM tip WHERE reporter_id = $1 AND received_at >= $2"
    )
    for _ in range(REPEATS):
        await count.fetchval(1, SINCE)
    await server.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite+aiosqlite:///{scratch}/cost.db"
        asyncio.run(measure(url))


if __name__ == "__main__":
    main()
