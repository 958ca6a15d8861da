"""INSERT ... ON CONFLICT for both dialects: race-free get-or-create across workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

M = TypeVar("M", bound=SQLModel)


def insert_for(session: AsyncSession) -> Any:
    """The dialect's ``insert`` (both have ``on_conflict_do_*``)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def insert_ignoring_conflict(
    session: AsyncSession,
    model: type[SQLModel],
    values: dict[str, Any],
    conflict_columns: Sequence[str] | None = None,
) -> int | None:
    """Insert a row unless a unique constraint already holds one; return the new id or None."""
    table = model.__table__
    statement = (
        insert_for(session)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
        .returning(table.c.id)
    )
    result = await session.exec(statement)
    return result.scalar_one_or_none()


async def insert_new(session: AsyncSession, model: type[M], values: dict[str, Any]) -> M | None:
    """Insert a row unless a unique constraint already holds one; the new row, or None."""
    insert = insert_for(session)(model).values(**values)
    statement = insert.on_conflict_do_nothing().returning(model)
    result = await session.exec(select(model).from_statement(statement))
    return result.scalar_one_or_none()


async def upsert(
    session: AsyncSession,
    model: type[M],
    values: dict[str, Any],
    conflict_columns: Sequence[str],
    changes: dict[str, Any],
) -> M:
    """Insert a row, or apply ``changes`` to the one a unique constraint already holds, and
    return it as loaded: one statement instead of an insert, an update and a select."""
    statement = (
        insert_for(session)(model)
        .values(**values)
        .on_conflict_do_update(index_elements=conflict_columns, set_=changes)
        .returning(model)
    )
    orm_statement = select(model).from_statement(statement)
    result = await session.exec(orm_statement.execution_options(populate_existing=True))
    return result.scalar_one()
