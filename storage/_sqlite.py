"""SQLite connections that run each statement in one trip to their thread.

aiosqlite runs sqlite3 on a thread of its own and hands every call over to it, and
SQLAlchemy makes four such calls per statement: open a cursor, execute, fetch the rows,
close the cursor. Each hand-over wakes that thread and then the event loop again, and those
wake-ups cost a worker more CPU than SQLite's own work (docs/BENCHMARKS.md, issue 10). Here a
statement is executed, its rows fetched and its cursor closed in one call on that thread;
the cursor the event loop sees only hands over what that call returned. A streamed result
(``stream_results``) is fetched whole as well: nothing in the tip line streams from SQLite.

SQLAlchemy's aiosqlite dialect drives the connection (it too reaches into aiosqlite's
thread and queue), so only the cursor changes; aiosqlite is pinned to the versions this
was checked against in pyproject.toml.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

__all__ = ["connector_for"]

_Outcome = tuple[Any, int, int | None, list[Any]]


def _execute_and_fetch(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> _Outcome:
    """On the connection's thread: execute, fetch everything, close."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _OneTripCursor:
    """What SQLAlchemy's adapter needs of an aiosqlite cursor, with the rows already here."""

    def __init__(self, connection: _OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: deque[Any] = deque()

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def _trip(self, sql: str, parameters: Any, *, many: bool) -> _OneTripCursor:
        connection = self._connection
        outcome = await connection._execute(
            _execute_and_fetch, connection._conn, sql, parameters, many
        )
        self.description, self.rowcount, self.lastrowid, rows = outcome
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Any = ()) -> _OneTripCursor:
        return await self._trip(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _OneTripCursor:
        return await self._trip(sql, parameters, many=True)

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return [self._rows.popleft() for _ in range(min(size or 1, len(self._rows)))]

    async def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class _OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> _OneTripCursor:  # type: ignore[override]
        return _OneTripCursor(self)


def connector_for(url: str, **connect_args: Any) -> Any:
    """The engine's ``async_creator`` for this SQLite URL (its file, its URL options)."""
    arguments, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    connect = partial(sqlite3.connect, *arguments, **(options | connect_args))

    async def connector() -> aiosqlite.Connection:
        connection = _OneTripConnection(connect, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy's dialect does
        return await connection

    return connector
