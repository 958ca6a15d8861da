"""SQLite connections that run each statement in one trip, and quick sessions on the loop.

aiosqlite runs sqlite3 on a thread of its own and hands every call over to it, and
SQLAlchemy makes four such calls per statement: open a cursor, execute, fetch the rows,
close the cursor. Each hand-over wakes that thread and then the event loop again, and those
wake-ups cost a worker more CPU than SQLite's own work (docs/BENCHMARKS.md, issue 10). Here a
statement is executed, its rows fetched and its cursor closed in one call on that thread;
the cursor the event loop sees only hands over what that call returned. A streamed result
(``stream_results``) is fetched whole as well: nothing in the tip line streams from SQLite.

A quick session (``Database.session(quick=True)``: the few statements on indexed rows that
each forward costs) skips the thread and the async driver altogether: it is a
:class:`QuickSession`, whose statements SQLAlchemy runs synchronously, on the event loop,
through a plain sqlite3 connection to the same file. They take tens of microseconds; a
hand-over waits for the busy loop to come round twice, a few milliseconds under a burst,
and the transaction holds SQLite's only write turn all that while. The transaction takes
that turn when it begins (``BEGIN IMMEDIATE``), so that no statement inside it waits for a
lock: when another process holds it (a CLI import, say), the wait happens on a thread, up
to ``patience``, and the loop goes on.

SQLAlchemy's aiosqlite dialect drives the thread's connection (it too reaches into
aiosqlite's thread and queue), so only the cursor and the transaction calls change there;
aiosqlite is pinned to the versions this was checked against in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import Connection, Engine, util
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["QuickSession", "connector_for", "loop_engine_for", "take_write_lock"]

_Outcome = tuple[Any, int, int | None, list[Any]]
Returned = TypeVar("Returned")


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
        outcome = await self._connection.run(_execute_and_fetch, sql, parameters, many)
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
        """``call(sqlite3_connection, *args)`` on the connection's thread."""
        return await self._execute(_patiently, self._patience_ms, call, self._conn, *args)

    async def commit(self) -> None:
        await self.run(sqlite3.Connection.commit)

    async def rollback(self) -> None:
        await self.run(sqlite3.Connection.rollback)


def _connect(url: str) -> Callable[[], sqlite3.Connection]:
    """sqlite3's own connect for this URL (its file, its URL options), never waiting for a
    lock by itself."""
    arguments, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    # Used from the loop and from a thread, never from both at once (one session at a time).
    options |= {"timeout": 0, "check_same_thread": False}
    return partial(sqlite3.connect, *arguments, **options)


def connector_for(url: str, *, patience: float = 5.0) -> Any:
    """The engine's ``async_creator`` for this SQLite URL.

    ``patience``: how many seconds a statement waits for a lock another process holds.
    """
    connect = _connect(url)

    async def connector() -> aiosqlite.Connection:
        connection = _OneTripConnection(connect, patience_ms=round(patience * 1000))
        connection._thread.daemon = True  # as SQLAlchemy's dialect does
        return await connection

    return connector


def loop_engine_for(url: str) -> Engine:
    """The synchronous engine of quick sessions, on the same file as ``url``.

    A pool of connections, as for any file: a session nested in another gets one of its own.
    """
    return create_sync_engine("sqlite+pysqlite://", creator=_connect(url), poolclass=QueuePool)


_BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"


async def take_write_lock(connection: Connection, *, patience: float) -> None:
    """Begin the transaction holding SQLite's write lock: on the loop when it is free, else
    on a thread, waiting up to ``patience`` seconds for the process that holds it."""
    sqlite = connection.connection.driver_connection
    try:
        try:
            sqlite.execute(_BEGIN_IMMEDIATE)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            await asyncio.to_thread(
                _patiently,
                round(patience * 1000),
                sqlite3.Connection.execute,
                sqlite,
                _BEGIN_IMMEDIATE,
            )
    except sqlite3.Error as error:  # as SQLAlchemy raises a statement's
        raise DBAPIError.instance(_BEGIN_IMMEDIATE, None, error, sqlite3.Error) from error


def _session_on(engine: Engine, *, bind: Any, binds: Any, **options: Any) -> Session:
    """AsyncSession's ``sync_session_class``: a Session on ``engine``, whatever it is given."""
    return Session(engine, **options)


# As AsyncSession buffers every result, so that none is read after its session ends.
_PREBUFFERED = util.immutabledict({"prebuffer_rows": True})


class QuickSession(AsyncSession):
    """An AsyncSession whose synchronous Session runs on sqlite3 itself, on the event loop.

    The calls every forward makes (``exec``, ``get``, ``get_one``, ``flush``, ``refresh``)
    run that Session directly: without SQLAlchemy's greenlet and an async driver's awaits,
    which cost a quick statement more of the worker's CPU than SQLite's own work
    (docs/BENCHMARKS.md). Any other call goes through AsyncSession as usual.
    """

    def __init__(self, bind: AsyncEngine, on_the_loop: Engine) -> None:
        super().__init__(
            bind, sync_session_class=partial(_session_on, on_the_loop), expire_on_commit=False
        )

    @property
    def bind(self) -> AsyncEngine:  # type: ignore[override]
        """The database's async engine (the synchronous one has no async counterpart)."""
        return self._async_bind

    async def exec(  # type: ignore[override]
        self,
        statement: Any,
        *,
        params: Any = None,
        execution_options: Any = util.EMPTY_DICT,
        bind_arguments: dict[str, Any] | None = None,
    ) -> Any:
        return self.sync_session.exec(
            statement,
            params=params,
            execution_options=_PREBUFFERED.union(execution_options),
            bind_arguments=bind_arguments,
        )

    async def get(self, entity: Any, ident: Any, **options: Any) -> Any:  # type: ignore[override]
        return self.sync_session.get(entity, ident, **options)

    async def get_one(self, entity: Any, ident: Any, **options: Any) -> Any:  # type: ignore[override]
        return self.sync_session.get_one(entity, ident, **options)

    async def flush(self, objects: Sequence[Any] | None = None) -> None:
        self.sync_session.flush(objects)

    async def refresh(
        self,
        instance: object,
        attribute_names: Iterable[str] | None = None,
        with_for_update: Any = None,
    ) -> None:
        self.sync_session.refresh(instance, attribute_names, with_for_update)
