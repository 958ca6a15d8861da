"""Fixtures shared by the whole suite: real databases (SQLite and PostgreSQL), migrated once.

Every test that takes ``database`` runs twice, once per backend. PostgreSQL gets a fresh
database per test run (created here, dropped at the end), so runs never see each other's rows.
Set ``TIPLINE_TEST_POSTGRES_URL`` to point elsewhere; with ``TIPLINE_TEST_REQUIRE_POSTGRES=1``
(as CI sets) an unreachable server fails the run instead of skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from bot.emulator import BotAPIEmulator
from matching import Encoder, load_encoder
from newsroom.context import Newsroom
from newsroom.indexes import MatchingIndexes
from storage.db import Database, upgrade_database

POSTGRES_ADMIN_URL = os.environ.get(
    "TIPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("TIPLINE_TEST_REQUIRE_POSTGRES") == "1"


async def _create_postgres_database() -> tuple[str, str]:
    name = f"tipline_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def _drop_postgres_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest_asyncio.fixture(loop_scope="session")
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    """A fresh fake Bot API server on 127.0.0.1: the only Telegram any test talks to."""
    emu = BotAPIEmulator()
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The real multilingual sentence encoder (bundled weights, loaded once per run)."""
    return load_encoder()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "tipline.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_url() -> AsyncIterator[str]:
    try:
        name, url = await _create_postgres_database()
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    await upgrade_database(url)
    yield url
    await _drop_postgres_database(name)


async def _empty_all_tables(database: Database) -> None:
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    async with database.session() as session:
        if database.dialect == "postgresql":
            joined = ", ".join(f'"{name}"' for name in tables)
            await session.exec(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await session.exec(text(f'DELETE FROM "{name}"'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database of each kind, in turn."""
    return request.getfixturevalue(f"{'sqlite' if request.param == 'sqlite' else 'postgres'}_url")


@pytest_asyncio.fixture(loop_scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database, once on SQLite and once on PostgreSQL."""
    db = Database(database_url)
    await _empty_all_tables(db)
    yield db
    await db.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def newsroom(database: Database, encoder: Encoder) -> AsyncIterator[Newsroom]:
    """The newsroom over an empty database of each kind, its indexes loaded."""
    indexes = MatchingIndexes(encoder)
    await indexes.refresh(database)
    yield Newsroom(db=database, indexes=indexes)
    indexes.close()
