"""INSERT ... ON CONFLICT DO NOTHING for both dialects: race-free get-or-create across workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


async def insert_ignoring_conflict(
    session: AsyncSession,
    model: type[SQLModel],
    values: dict[str, Any],
    conflict_columns: Sequence[str] | None = None,
) -> int | None:
    """Insert a row unless a unique constraint already holds one; return the new id or None."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
        .returning(table.c.id)
    )
    result = await session.exec(statement)
    return result.scalar_one_or_none()
