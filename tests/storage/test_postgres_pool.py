"""PostgreSQL's pool: a connection back from a rest is checked, one in steady use is not."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _backend(db: Database) -> int:
    async with db.session() as session:
        return int((await session.exec(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(postgres_url: str, backend: int) -> None:
    connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        await connection.execute("SELECT pg_terminate_backend($1)", backend)
    finally:
        await connection.close()


async def test_a_connection_lost_while_it_rested_is_replaced_before_use(postgres_url: str) -> None:
    db = Database(postgres_url, ping_after_idle_s=0.2)
    try:
        first = await _backend(db)
        assert await _backend(db) == first  # pooled, not reconnected
        await _terminate(postgres_url, first)
        await asyncio.sleep(0.3)
        assert await _backend(db) != first
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged_and_one_failure_renews_the_pool(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, ping_after_idle_s=60)
    try:
        first = await _backend(db)
        await _terminate(postgres_url, first)
        with pytest.raises(DBAPIError) as failure:
            await _backend(db)
        assert failure.value.connection_invalidated
        assert await _backend(db) != first
    finally:
        await db.dispose()
