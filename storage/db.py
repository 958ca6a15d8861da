"""The async engine, sessions and schema migrations, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._sqlite import connector_for, on_the_loop

__all__ = [
    "Database",
    "alembic_config",
    "downgrade_database",
    "upgrade_database",
]

_MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work while the bot writes; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, ping_after_idle_s: float = 5.0, **options: Any) -> AsyncEngine:
    """An engine tuned per dialect: SQLite pragmas on every connection, a pool for PostgreSQL.

    A pooled PostgreSQL connection that sat idle for ``ping_after_idle_s`` is pinged before
    use, and replaced if the ping fails (see :func:`_ping_if_idle`).
    """
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            options.setdefault("poolclass", StaticPool)
        options.setdefault("async_creator", connector_for(url))
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    options.setdefault("pool_size", 10)
    engine = create_async_engine(url, **options)
    pool = engine.sync_engine.pool
    event.listen(pool, "checkin", _note_checkin)
    event.listen(pool, "checkout", partial(_ping_if_idle, engine.dialect, ping_after_idle_s))
    return engine


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(
    dialect: Dialect,
    idle_s: float,
    dbapi_connection: Any,
    record: ConnectionPoolEntry,
    _proxy: Any,
) -> None:
    """Ping a connection back from a rest, and have the pool replace it if the ping fails.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout, and asyncpg's ping is three round
    trips (BEGIN, an empty query, ROLLBACK): under a burst, a third of a forward's trips to
    PostgreSQL and their share of the worker's CPU (docs/BENCHMARKS.md). A connection in
    steady use needs none. If the server went away meanwhile (a restart), its next statement
    fails as a disconnect, SQLAlchemy then replaces every connection in the pool, and the
    update is retried: from the inbox, or by Telegram after a 503.
    """
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < idle_s:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise DisconnectionError(f"idle connection lost: {type(error).__name__}") from error


class _Turns:
    """One holder at a time, first come first served, except that urgent waiters go first."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    async def acquire(self, *, urgent: bool) -> None:
        if not self._held:
            self._held = True
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting[urgent].append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the turn came just as the waiter gave up: pass it on
            elif turn in self._waiting[urgent]:  # a release may have dropped it already
                self._waiting[urgent].remove(turn)
            raise

    def release(self) -> None:
        for queue in (self._waiting[True], self._waiting[False]):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # still held: it passes to this waiter
                    return
        self._held = False


# Whether this task (or the task that started it) is inside a SQLite session already.
_in_sqlite_session: ContextVar[bool] = ContextVar("in_sqlite_session", default=False)


class Database:
    """Owns one engine and hands out sessions; created at start-up, disposed at shutdown.

    On SQLite, one transaction at a time in this process. SQLite has a single writer, and a
    writer that finds the lock taken polls for it, sleeping up to 100 ms between tries: under
    a burst most of a tip's time went into those sleeps. Queued on an asyncio lock instead,
    transactions follow each other at once. A session opened inside another by the same task
    does not queue (it would wait for itself). An ``urgent`` session goes before the queue:
    recording that an answer went out must not wait behind a burst. A ``quick`` one runs its
    statements on the event loop rather than on SQLite's thread (storage/_sqlite.py): for the
    few short statements of each forward, not for reading pages of rows (docs/ARCHITECTURE.md).
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_options)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._one_at_a_time = _Turns() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(
        self, *, urgent: bool = False, quick: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error."""
        turns = self._one_at_a_time
        if turns is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        nested = _in_sqlite_session.get()
        if not nested:
            await turns.acquire(urgent=urgent)
        inside = _in_sqlite_session.set(True)
        here = on_the_loop.set(quick)
        try:
            async with self._sessions() as session, session.begin():
                yield session
        finally:
            on_the_loop.reset(here)
            _in_sqlite_session.reset(inside)
            if not nested:
                turns.release()

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _in_thread(function: Any, *args: Any) -> Any:
    # Alembic's env.py drives its own event loop, so it must not run on the caller's loop.
    return asyncio.to_thread(function, *args)


def upgrade_sync(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade_sync(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; harmless when already there."""
    await _in_thread(upgrade_sync, url, revision)


async def downgrade_database(url: str, revision: str) -> None:
    await _in_thread(downgrade_sync, url, revision)
