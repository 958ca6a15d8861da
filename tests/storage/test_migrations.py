"""Migrations give one schema on both databases, and can be undone and redone."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from storage.db import Database, downgrade_database, upgrade_database

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _schema(connection: Any) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return compare_metadata(context, SQLModel.metadata)


async def test_both_databases_get_the_same_tables_and_columns(
    sqlite_url: str, postgres_url: str
) -> None:
    schemas = []
    for url in (sqlite_url, postgres_url):
        db = Database(url)
        async with db.engine.connect() as connection:
            schemas.append(await connection.run_sync(_schema))
        await db.dispose()
    assert schemas[0] == schemas[1]
    assert {"tip", "claim", "fact_check", "reporter", "outbox_message"} <= set(schemas[0])


async def test_migrations_match_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_upgrade_twice_is_harmless_and_round_trip_works(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'round.db'}"
    await upgrade_database(url)
    await upgrade_database(url)
    await downgrade_database(url, "base")
    db = Database(url)
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_schema) == {}
    await upgrade_database(url)
    async with db.engine.connect() as connection:
        assert "tip" in await connection.run_sync(_schema)
    await db.dispose()


async def test_postgres_round_trip(postgres_url: str) -> None:
    await downgrade_database(postgres_url, "base")
    db = Database(postgres_url)
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_schema) == {}
    await upgrade_database(postgres_url)
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    await db.dispose()
