"""SQLite online backup: a consistent copy while the bot writes, and a working restore."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlmodel import func, select

from storage import tips
from storage.backup import BackupError, backup_sqlite, sqlite_path
from storage.db import Database, upgrade_database
from storage.models import Tip


async def _tip_count(url: str) -> int:
    database = Database(url)
    try:
        async with database.session() as session:
            return (await session.exec(select(func.count()).select_from(Tip))).one()
    finally:
        await database.dispose()


@pytest.mark.asyncio(loop_scope="session")
async def test_backup_while_writing_then_restore(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    await upgrade_database(url)
    database = Database(url)
    for n in range(200):
        async with database.session() as session:
            await tips.record_tip(session, chat_id=1, message_id=n, text="x" * 2000)

    async def keep_writing() -> None:
        for n in range(200, 400):
            async with database.session() as session:
                await tips.record_tip(session, chat_id=1, message_id=n, text="y" * 2000)
            await asyncio.sleep(0)

    backup = tmp_path / "backup.db"
    writer = asyncio.create_task(keep_writing())
    await asyncio.to_thread(backup_sqlite, url, backup)
    await writer
    await database.dispose()

    copied = await _tip_count(f"sqlite+aiosqlite:///{backup}")
    assert 200 <= copied <= 400
    assert await _tip_count(url) == 400

    restored = tmp_path / "restored.db"
    shutil.copyfile(backup, restored)
    restored_url = f"sqlite+aiosqlite:///{restored}"
    await upgrade_database(restored_url)  # a restored file is a normal, current database
    assert await _tip_count(restored_url) == copied
    assert not (tmp_path / "backup.db.partial").exists()


def test_backup_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        sqlite_path("postgresql+asyncpg://u@h/db")
    with pytest.raises(BackupError, match="no database"):
        backup_sqlite(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", tmp_path / "b.db")
    existing = tmp_path / "exists.db"
    existing.write_bytes(b"")
    source = tmp_path / "source.db"
    source.write_bytes(b"")
    with pytest.raises(BackupError, match="exists"):
        backup_sqlite(f"sqlite+aiosqlite:///{source}", existing)
