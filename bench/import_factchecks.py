"""How long importing 10,000 fact-checks takes, first time and again (nothing changed).

Generates our JSON Lines format to a temporary file and imports it into a fresh SQLite
database, and into a temporary PostgreSQL database when one is reachable. Run:

    .venv/bin/python bench/import_factchecks.py [--records 10000] [--postgres-admin URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from newsroom.factchecks import import_sources
from newsroom.fetch import Fetcher
from storage.db import Database, upgrade_database

VERDICTS = ["Falsch", "False", "Фейк", "Engañoso", "Yanlış", "Faux", "Mostly False", "Satire"]
LANGUAGES = ["de", "en", "ru", "es", "tr", "fr", "uk", "ar"]


def write_records(path: Path, count: int) -> None:
    rng = random.Random(5)
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            record = {
                "url": f"https://example.org/bench/{n}?utm_source=bench",
                "claim_reviewed": f"Benchmark claim number {n} about {rng.randrange(10**6)}.",
                "rating": rng.choice(VERDICTS),
                "headline": f"Benchmark fact-check {n}",
                "publisher": "Bench Faktencheck (example)",
                "language": rng.choice(LANGUAGES),
                "published_at": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "summary": "Generated benchmark data, not a real fact-check.",
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


async def timed_import(db: Database, source: Path, fetcher: Fetcher) -> tuple[float, str]:
    started = time.perf_counter()
    report = await import_sources(db, [str(source)], fetcher=fetcher)
    return time.perf_counter() - started, report.summary()


async def run_imports(label: str, url: str, source: Path) -> None:
    await upgrade_database(url)
    db = Database(url)
    try:
        async with Fetcher() as fetcher:
            print(f"{label}: first import %.2f s (%s)" % await timed_import(db, source, fetcher))
            print(f"{label}: re-import   %.2f s (%s)" % await timed_import(db, source, fetcher))
    finally:
        await db.dispose()


async def postgres_database(admin: str) -> tuple[str, str] | None:
    name = f"tipline_bench_{uuid.uuid4().hex[:8]}"
    try:
        connection = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"postgresql: skipped ({exc})")
        return None
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def drop_postgres_database(admin: str, name: str) -> None:
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument(
        "--postgres-admin",
        default=os.environ.get(
            "TIPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        source = Path(workdir) / "factchecks.jsonl"
        write_records(source, args.records)
        print(f"{args.records} records, {source.stat().st_size / 1e6:.1f} MB of JSON Lines")
        targets = [("sqlite", f"sqlite+aiosqlite:///{workdir}/bench.db", None)]
        created = await postgres_database(args.postgres_admin)
        if created:
            targets.append(("postgresql", created[1], created[0]))
        try:
            for label, url, _ in targets:
                await run_imports(label, url, source)
        finally:
            if created:
                await drop_postgres_database(args.postgres_admin, created[0])


if __name__ == "__main__":
    asyncio.run(main())
