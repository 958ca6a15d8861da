"""INSERT ... ON CONFLICT for both dialects: race-free get-or-create across workers.

Each statement is built once per dialect, model and conflict target, and the row's values
are passed as parameters when it runs: intake inserts a tip and a subscription and upserts a
reporter for every forward, and building those statements anew each time cost more CPU than
running them (docs/BENCHMARKS.md, issue 10).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.prepared import Prepared

M = TypeVar("M", bound=SQLModel)


def dialect_of(session: AsyncSession) -> str:
    """The session's database dialect, ``sqlite`` or ``postgresql``."""
    return session.bind.dialect.name if session.bind else "sqlite"


def insert_in(dialect: str) -> Any:
    """The dialect's ``insert`` (both have ``on_conflict_do_*``)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def insert_for(session: AsyncSession) -> Any:
    """The ``insert`` of the session's dialect."""
    return insert_in(dialect_of(session))


@functools.cache
def _ignoring_conflict(dialect: str, model: type[SQLModel], target: tuple[str, ...]) -> Prepared:
    table = model.__table__
    statement = insert_in(dialect)(table).on_conflict_do_nothing(index_elements=target or None)
    return Prepared(statement.returning(*table.primary_key.columns))


@functools.cache
def _upserted(
    dialect: str, model: type[SQLModel], target: tuple[str, ...], updated: tuple[str, ...]
) -> Any:
    insert = insert_in(dialect)(model)
    statement = insert.on_conflict_do_update(
        index_elements=target, set_={name: insert.excluded[name] for name in updated}
    )
    orm_statement = select(model).from_statement(statement.returning(model))
    return orm_statement.execution_options(populate_existing=True)


async def insert_ignoring_conflict(
    session: AsyncSession,
    model: type[SQLModel],
    values: dict[str, Any],
    conflict_columns: Sequence[str] | None = None,
) -> int | None:
    """Insert a row unless a unique constraint already holds one; return its key or None."""
    statement = _ignoring_conflict(dialect_of(session), model, tuple(conflict_columns or ()))
    inserted = await statement.first(session, values)
    return inserted[0] if inserted is not None else None


async def upsert(
    session: AsyncSession,
    model: type[M],
    values: dict[str, Any],
    conflict_columns: Sequence[str],
    updated_columns: Sequence[str],
) -> M:
    """Insert a row, or give the one a unique constraint already holds this row's values in
    ``updated_columns``, and return it as loaded: one statement instead of an insert, an
    update and a select."""
    statement = _upserted(
        dialect_of(session), model, tuple(conflict_columns), tuple(updated_columns)
    )
    return (await session.exec(statement, params=values)).scalar_one()
