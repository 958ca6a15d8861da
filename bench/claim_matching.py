"""How well the bot's matcher finds the fact-check a tweet is about (CheckThat! 2021 task 2A).

Evaluates exactly the matcher the bot runs (``matching.Matcher`` with the calibrated weights
and ``FACT_CHECK_THRESHOLDS``) on the train or dev split; the test split is held out and never
read. Targets are indexed with their title, as the bot indexes a fact-check with its headline.
Sentence vectors are cached under bench/results/, so a rerun takes seconds. Run:

    .venv/bin/python bench/claim_matching.py [--split dev] [--data DIR]

Reports MAP@1, MAP@5, Recall@5 and what the bot would do with the best candidate: the
precision and recall of the auto-reply and of the ask-the-sender decisions, and how often it
would auto-reply wrongly when the right fact-check is not in the archive at all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matching import (
    FACT_CHECK_THRESHOLDS,
    Candidate,
    Document,
    Encoder,
    Matcher,
    document_text,
    load_encoder,
    query_text,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "checkthat-2021-2a"
RESULTS = Path(__file__).resolve().parent / "results"
SPLITS = ("train", "dev")


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    gold: frozenset[str]


def load_split(data: Path, split: str) -> tuple[list[Document], list[Query]]:
    """Targets (as fact-check documents) and the queries of one split with their gold targets."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; the test split is held out")
    gold: dict[str, set[str]] = defaultdict(set)
    with (data / "qrels.tsv").open(encoding="utf-8") as lines:
        next(lines)
        for line in lines:
            query_id, target_id, line_split = line.rstrip("\n").split("\t")
            if line_split == split:
                gold[query_id].add(target_id)
    targets = []
    with (data / "targets.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            targets.append(Document(id=row["id"], text=row["text"], title=row.get("title") or ""))
    queries = []
    with (data / "queries.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["split"] == split and row["id"] in gold:
                queries.append(Query(row["id"], row["text"], frozenset(gold[row["id"]])))
    return targets, queries


def cached_vectors(encoder: Encoder, texts: list[str], label: str) -> np.ndarray:
    """Encode texts once; the cache file is named by the encoder and a hash of the texts."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = RESULTS / f"{label}-{encoder.name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = encoder.encode(texts)
    RESULTS.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def build_matcher(
    encoder: Encoder, targets: list[Document], *, dtype: type = np.float32
) -> Matcher:
    """The bot's fact-check matcher over the targets, with cached document vectors."""
    matcher = Matcher(encoder, FACT_CHECK_THRESHOLDS, dtype=dtype)
    texts = [document_text(doc) for doc in targets]
    for doc, vector in zip(targets, cached_vectors(encoder, texts, "targets"), strict=True):
        doc.vector = vector
    matcher.add(targets)
    return matcher


def query_vectors(matcher: Matcher, queries: list[Query], label: str) -> np.ndarray:
    return cached_vectors(matcher.encoder, [query_text(q.text) for q in queries], label)


@contextmanager
def without(matcher: Matcher, docs: list[Document]) -> Iterator[None]:
    """The matcher with some documents taken out for a while (their answer is 'not archived')."""
    for doc in docs:
        matcher.remove(doc.id)
    try:
        yield
    finally:
        matcher.add(docs)


def average_precision(ranked: list[str], gold: frozenset[str], k: int) -> float:
    """AP@k as the CheckThat! scorer computes it: precision at each hit, over the gold count."""
    hits, total = 0, 0.0
    for position, target in enumerate(ranked[:k], start=1):
        if target in gold:
            hits += 1
            total += hits / position
    return total / len(gold)


@dataclass
class Report:
    queries: int = 0
    map1: float = 0.0
    map5: float = 0.0
    recall5: float = 0.0
    replies: int = 0
    right_replies: int = 0
    asks: int = 0
    right_asks: int = 0
    absent_replies: int = 0
    absent_asks: int = 0

    def lines(self) -> list[str]:
        n = self.queries or 1
        return [
            f"queries            {self.queries}",
            f"MAP@1              {self.map1 / n:.4f}",
            f"MAP@5              {self.map5 / n:.4f}",
            f"Recall@5           {self.recall5 / n:.4f}",
            f"reply  precision   {_ratio(self.right_replies, self.replies)}"
            f"  recall {self.right_replies / n:.4f}",
            f"ask    precision   {_ratio(self.right_asks, self.asks)}"
            f"  recall {self.right_asks / n:.4f}",
            f"reply or ask recall {(self.right_replies + self.right_asks) / n:.4f}",
            f"answer not archived: wrong replies {self.absent_replies / n:.4f}"
            f"  asks {self.absent_asks / n:.4f}",
        ]


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.4f} ({part}/{whole})" if whole else "- (0/0)"


def evaluate(
    matcher: Matcher, queries: list[Query], vectors: np.ndarray, docs: dict[str, Document]
) -> Report:
    """Rank, decide, and score the bot's decisions on the best candidate of each query."""
    report = Report()
    for query, vector in zip(queries, vectors, strict=True):
        found: list[Candidate] = matcher.search(query.text, vector=vector, top_k=5)
        ranked = [str(c.id) for c in found]
        report.queries += 1
        report.map1 += average_precision(ranked, query.gold, 1)
        report.map5 += average_precision(ranked, query.gold, 5)
        report.recall5 += len(query.gold & set(ranked)) / len(query.gold)
        if found and found[0].decision != "none":
            right = ranked[0] in query.gold
            if found[0].decision == "reply":
                report.replies += 1
                report.right_replies += right
            else:
                report.asks += 1
                report.right_asks += right
        with without(matcher, [docs[t] for t in query.gold if t in docs]):
            absent = matcher.search(query.text, vector=vector, top_k=1)
        if absent and absent[0].decision == "reply":
            report.absent_replies += 1
        elif absent and absent[0].decision == "ask":
            report.absent_asks += 1
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", choices=SPLITS, default="dev")
    parser.add_argument("--dtype", choices=["float32", "int8"], default="float32")
    args = parser.parse_args()
    started = time.perf_counter()
    targets, queries = load_split(args.data, args.split)
    matcher = build_matcher(load_encoder(), targets, dtype=np.dtype(args.dtype).type)
    vectors = query_vectors(matcher, queries, f"queries-{args.split}")
    loaded = time.perf_counter()
    report = evaluate(matcher, queries, vectors, {str(d.id): d for d in targets})
    print(
        f"CheckThat! 2021 2A {args.split}: {len(targets)} targets, {args.dtype} vectors, "
        f"thresholds reply {matcher.thresholds.reply} ask {matcher.thresholds.ask}"
    )
    print("\n".join(report.lines()))
    print(f"load {loaded - started:.1f} s, evaluation {time.perf_counter() - loaded:.1f} s")


if __name__ == "__main__":
    main()
