"""SQLite connections that run each statement in one trip, and quick sessions on the loop.

aiosqlite runs sqlite3 on a thread of its own and hands every call over to it, and
SQLAlchemy makes four such calls per statement: open a cursor, execute, fetch the rows,
close the cursor. Each hand-over wakes that thread and then the event loop again, and those
wake-ups cost a worker more CPU than SQLite's own work (docs/BENCHMARKS.md, issue 10). Here a
statement is executed, its rows fetched and its cursor closed in one call on that thread;
the cursor the event loop sees only hands over what that call returned. A streamed result
(``stream_results``) is fetched whole as well: nothing in the tip line streams from SQLite.

A quick session (``Database.session(quick=True)``: the few statements on indexed rows that
each forward costs) skips the thread: its statements, commit and rollback run on the event
loop itself. They take tens of microseconds; a hand-over waits for the busy loop to come
round twice, a few milliseconds under a burst, and the transaction holds SQLite's only write
turn all that while. So that the loop never sleeps on SQLite's lock, the connection does not
wait for a lock held by another process (a CLI import, say): such a statement is handed to
the thread, which waits up to ``patience`` for it.

SQLAlchemy's aiosqlite dialect drives the connection (it too reaches into aiosqlite's
thread and queue), so only the cursor and the transaction calls change; aiosqlite is pinned
to the versions this was checked against in pyproject.toml.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

__all__ = ["connector_for", "execute_and_fetch", "on_the_loop"]

_Outcome = tuple[Any, int, int | None, list[Any]]
Returned = TypeVar("Returned")

# Whether this task's statements run on the event loop (it is in a quick session).
on_the_loop: ContextVar[bool] = ContextVar("sqlite_on_the_loop", default=False)


def _patiently(
    patience_ms: int,
    call: Callable[..., Returned],
    connection: sqlite3.Connection,
    *args: Any,
) -> Returned:
    """On the connection's thread, where waiting for another process's lock blocks no one."""
    connection.execute(f"PRAGMA busy_timeout={patience_ms:d}")
    try:
        return call(connection, *args)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def execute_and_fetch(
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
        outcome = await self._connection.run(execute_and_fetch, sql, parameters, many)
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
    def __init__(self, connect: Callable[[], sqlite3.Connection], *, patience_ms: int) -> None:
        super().__init__(connect, iter_chunk_size=64)
        self._patience_ms = patience_ms

    def cursor(self) -> _OneTripCursor:  # type: ignore[override]
        return _OneTripCursor(self)

    async def run(self, call: Callable[..., Returned], *args: Any) -> Returned:
        """``call(sqlite3_connection, *args)``: here in a quick session, else on the thread."""
        if on_the_loop.get():
            try:
                return call(self._conn, *args)
            except sqlite3.OperationalError as error:
                if not _is_busy(error):  # nothing was done: it can wait its turn
                    raise
        return await self._execute(_patiently, self._patience_ms, call, self._conn, *args)

    async def commit(self) -> None:
        await self.run(sqlite3.Connection.commit)

    async def rollback(self) -> None:
        await self.run(sqlite3.Connection.rollback)


def connector_for(url: str, *, patience: float = 5.0) -> Any:
    """The engine's ``async_creator`` for this SQLite URL (its file, its URL options).

    ``patience``: how many seconds a statement waits for a lock another process holds.
    """
    arguments, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    # Used from the loop and from its thread, never from both at once (one session at a time).
    options |= {"timeout": 0, "check_same_thread": False}
    connect = partial(sqlite3.connect, *arguments, **options)

    async def connector() -> aiosqlite.Connection:
        connection = _OneTripConnection(connect, patience_ms=round(patience * 1000))
        connection._thread.daemon = True  # as SQLAlchemy's dialect does
        return await connection

    return connector
