"""Online backup of a SQLite database, safe while the tip line writes to it.

SQLite's backup API copies a consistent snapshot page by page, so a running bot (WAL mode)
keeps working during the copy. PostgreSQL has its own tools (``pg_dump``; docs/DEPLOY.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["BackupError", "backup_sqlite", "sqlite_path"]

# Pages copied per step; between steps writers may commit, and the copy goes on.
_PAGES_PER_STEP = 1024


class BackupError(Exception):
    """The backup cannot be made; ``str()`` says why in one line."""


def sqlite_path(database_url: str) -> Path:
    """The file behind a ``sqlite+aiosqlite:///PATH`` URL."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError("online backup is for SQLite; back PostgreSQL up with pg_dump")
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(url.database)


def _copy(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst, pages=_PAGES_PER_STEP)
        (result,) = dst.execute("PRAGMA integrity_check").fetchone()
    finally:
        src.close()
        dst.close()
    if result != "ok":
        raise BackupError(f"the copy failed its integrity check: {result}")


def backup_sqlite(database_url: str, target: Path) -> Path:
    """Write a consistent copy of the database to ``target`` (which must not exist yet).

    Blocking: call it in a thread from async code.
    """
    source = sqlite_path(database_url)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file")
    partial = target.with_name(target.name + ".partial")
    try:
        _copy(source, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
