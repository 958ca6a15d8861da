"""Statements every forward runs, compiled once and run on the session's own driver connection.

A statement through the session cost a worker 0.35–0.5 ms of CPU where SQLite takes about
0.005 and asyncpg 0.06: the ORM session, the connection, the execution context and the
result each add their layer (bench/statement_cost.py, docs/BENCHMARKS.md). A forward runs six
to ten such statements, so these few are built with SQLAlchemy Core like any other, compiled
once per dialect, and run here on the driver connection the session already holds, inside
its transaction (0.11–0.14 ms each).

What SQLAlchemy would do around them is done here too: pending ORM changes are flushed
first, parameters and result values pass through their types' own processors, and a driver
error is raised as SQLAlchemy raises it (a lost server invalidates the pool's connections,
and a statement cut short by a cancellation drops its own). SQLAlchemy's events do not see
these statements. Only plain statements: no expanding ``IN`` lists, nothing that renders
parameters after compiling. On PostgreSQL a statement goes through the asyncpg adapter's own
``_prepare_and_execute`` (its prepared statement cache, its transaction), and a lost server
invalidates the pool by its ``_invalidate``, as SQLAlchemy does: private, so pyproject.toml
pins SQLAlchemy's minor version.
"""

from __future__ import annotations

import asyncio
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.schema import ColumnDefault
from sqlalchemy.types import TypeEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage._sqlite import execute_and_fetch

__all__ = ["Columns", "Prepared"]

# A row of a prepared statement: a named tuple of its columns, as a Row reads by name.
Columns = Any

_Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a parameter the caller must give
_HELD = "prepared_statements_connection"  # key in Session.info


@dataclass
class _Compiled:
    """A statement as one dialect runs it: its SQL, its parameters in order, its row shape."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]
    binders: tuple[_Processor, ...]
    row: type[tuple[Any, ...]] | None
    types: tuple[TypeEngine[Any], ...]
    # Each result column's processor, made at the first run: some need the driver's own type
    # code of the column (asyncpg's numbers), known only once the statement ran.
    readers: tuple[_Processor, ...] | None = None

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> _Compiled:
        # An INSERT's columns are the parameters given, as when SQLAlchemy runs it.
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.positiontup is None or compiled.literal_execute_params:
            raise ValueError(f"not a statement to prepare: {statement}")
        binds = [compiled.binds[name] for name in compiled.positiontup]
        if any(bind.expanding for bind in binds):
            raise ValueError(f"expanding parameters are not prepared: {statement}")
        # Columns left out of an INSERT or UPDATE get their Python-side defaults, as in
        # SQLAlchemy (a callable is called for each row).
        prefetched = {
            column.key: column.default
            for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
        }
        columns = list(getattr(statement, "exported_columns", ()))
        row = namedtuple("Row", [c.key or "_" for c in columns], rename=True) if columns else None
        return cls(
            sql=str(compiled),
            names=tuple(compiled.positiontup),
            defaults=tuple(
                prefetched.get(name, _REQUIRED if bind.required else bind.effective_value)
                for name, bind in zip(compiled.positiontup, binds, strict=True)
            ),
            binders=tuple(_binder(bind.type, dialect) for bind in binds),
            row=row,  # type: ignore[arg-type]
            types=tuple(column.type for column in columns),
        )

    def parameters(self, given: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, default, binder in zip(self.names, self.defaults, self.binders, strict=True):
            if name in given or default is _REQUIRED:
                value = given[name]
            elif isinstance(default, ColumnDefault):
                value = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined,operator]
            else:
                value = default
            values.append(value if binder is None else binder(value))
        return tuple(values)

    def read(self, raw_rows: Any, description: Any, dialect: Dialect) -> list[Columns]:
        if self.row is None:
            return []
        if self.readers is None:
            codes = [column[1] for column in description or ()] or [None] * len(self.types)
            self.readers = tuple(
                type_.dialect_impl(dialect).result_processor(dialect, code)
                for type_, code in zip(self.types, codes, strict=True)
            )
        readers, make = self.readers, self.row._make  # type: ignore[attr-defined]
        return [
            make([v if r is None else r(v) for r, v in zip(readers, raw, strict=True)])
            for raw in raw_rows
        ]


def _binder(type_: TypeEngine[Any], dialect: Dialect) -> _Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)


class Prepared:
    """A Core statement, compiled once per dialect, run on the session's driver connection."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, ...], _Compiled] = {}

    def compiled_for(self, dialect: Dialect, keys: Sequence[str]) -> _Compiled:
        """The statement as this dialect runs it with parameters of these names."""
        key = (dialect.name, *keys)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled.of(self.statement, dialect, keys)
        return compiled

    async def rows(self, session: AsyncSession, parameters: Mapping[str, Any]) -> list[Columns]:
        """Run the statement in the session's transaction; its rows, as named tuples."""
        connection = await _connection_of(session)
        dialect = connection.dialect
        compiled = self.compiled_for(dialect, tuple(parameters))
        values = compiled.parameters(parameters)
        held = connection.sync_connection.connection  # type: ignore[union-attr]
        try:
            if dialect.name == "sqlite":
                outcome = await held.driver_connection.run(
                    execute_and_fetch, compiled.sql, values, False
                )
                description, raw_rows = outcome[0], outcome[3]
            else:
                cursor = held.dbapi_connection.cursor()
                await cursor._prepare_and_execute(compiled.sql, values)
                description, raw_rows = cursor.description, cursor._rows
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, held.dbapi_connection, None)
            if lost:  # the server went away: every connection pooled before is suspect
                connection.sync_engine.pool._invalidate(held, error)
                await connection.invalidate(error)
            raise DBAPIError.instance(
                compiled.sql,
                values,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error
        except (asyncio.CancelledError, TimeoutError) as interrupted:
            await connection.invalidate(interrupted)  # not trusted after a statement cut short
            raise
        return compiled.read(raw_rows, description, dialect)

    async def first(self, session: AsyncSession, parameters: Mapping[str, Any]) -> Columns | None:
        rows = await self.rows(session, parameters)
        return rows[0] if rows else None

    async def one(self, session: AsyncSession, parameters: Mapping[str, Any]) -> Columns:
        rows = await self.rows(session, parameters)
        if not rows:
            raise NoResultFound("no row where one was required")
        if len(rows) > 1:
            raise MultipleResultsFound("more than one row where one was required")
        return rows[0]

    async def run(self, session: AsyncSession, parameters: Mapping[str, Any]) -> None:
        await self.rows(session, parameters)


async def _connection_of(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, with its pending ORM changes flushed.

    Asked once per transaction: ``AsyncSession.connection`` is itself a trip through
    SQLAlchemy's layers.
    """
    orm = session.sync_session
    if orm.new or orm.deleted or orm.identity_map.check_modified():
        await session.flush()
    transaction = orm.get_transaction()
    held = session.info.get(_HELD)
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1]
    connection = await session.connection()
    session.info[_HELD] = (orm.get_transaction(), connection)
    return connection
