"""What the matching process's look-ahead saves a new text: its language, then its match.

Between a tip's language and its match the worker records the tip in the database; a
matching process with nothing else to do searches the text's fact-checks meanwhile
(``IndexHolder.look_ahead``). Here the matching process of `tipline run` holds N synthetic
fact-checks (bench/synthetic.py, as bench/throughput.py loads them), and new rumours are sent
one at a time, with a pause after each as from an idle newsroom: the language, then a sleep
standing for the database's share, then the match. Rounds alternate with and without the
look-ahead (``then_match``), and each gives the p50 and mean from language to match.

    .venv/bin/python bench/look_ahead.py                          # 100,000 fact-checks
    .venv/bin/python bench/look_ahead.py --between-ms 5 --rounds 8
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bot  # noqa: F401  (before numpy: one BLAS thread, as in the bot)
from bench.throughput import _new_claim, load_corpus
from matching import load_encoder, normalize_text
from newsroom.indexes import MatchingIndexes
from storage.db import Database


async def _language_to_match(
    indexes: MatchingIndexes, text: str, *, ahead: bool, between: float
) -> float:
    started = time.perf_counter()
    normalized = normalize_text(text)
    language = await indexes.detect_language(normalized, None, then_match=text if ahead else None)
    await asyncio.sleep(between)  # the tip recorded in the database
    await indexes.match(text, language)
    return time.perf_counter() - started


async def measure(fact_checks: int, rounds: int, texts: int, between_ms: float) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/look_ahead.db"
        await load_corpus(url, fact_checks)
        db = Database(url)
        indexes = MatchingIndexes(load_encoder(), own_process=True)
        await indexes.refresh(db)
        await indexes.warm_up()
        rng, n = random.Random(7), 0
        for number in range(rounds):
            order = (False, True) if number % 2 == 0 else (True, False)
            for ahead in order:
                walls = []
                for _ in range(texts):
                    n += 1
                    wall = await _language_to_match(
                        indexes, _new_claim(n, rng), ahead=ahead, between=between_ms / 1000
                    )
                    walls.append(wall * 1000)
                    await asyncio.sleep(0.02)  # idle between tips
                print(
                    f"round {number}  look-ahead {'on ' if ahead else 'off'}  "
                    f"p50 {statistics.median(walls):.1f} ms  mean {statistics.fmean(walls):.1f} ms",
                    flush=True,
                )
        indexes.close()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fact-checks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--texts", type=int, default=60, help="new rumours in each round")
    parser.add_argument(
        "--between-ms", type=float, default=3.0, help="the database's share, between the two"
    )
    args = parser.parse_args()
    asyncio.run(measure(args.fact_checks, args.rounds, args.texts, args.between_ms))


if __name__ == "__main__":
    main()
