"""Fit the matcher's score weights and choose its thresholds, on CheckThat! 2021 2A train only.

The score is a logistic regression over ``matching.FEATURE_NAMES``, fitted (numpy, Newton
steps with a small L2 penalty) on every candidate pair the bot's matcher proposes for a train
tweet, labelled by the gold pairs; a second one on the cosine alone is what vouches for a
pair across languages (``SEMANTIC_WEIGHTS``). Each tweet is seen twice: once with its
fact-check in the archive and once with it taken out, because most tips reaching a tip line
have no published debunk yet, and the best of what remains must then score low. Thresholds
are chosen on out-of-fold scores (5 folds of tweets) over both populations, so they are not
flattered:

- reply: the lowest score at which the best candidate is right in >= 97 % of the cases
  (archived or not) whose best candidate reaches it;
- ask: the lowest score at which the best candidates between ask and reply are still right
  two times in three (asking is then worth the sender's tap).

The dev split is never read here. Paste the printed numbers into matching/matcher.py and check
them with bench/claim_matching.py --split dev. Run:

    .venv/bin/python bench/calibrate_matcher.py [--data DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from claim_matching import DATA, build_matcher, load_split, query_vectors, without

from matching import FEATURE_NAMES, load_encoder

REPLY_PRECISION = 0.97
ASK_PRECISION = 2 / 3
FOLDS = 5


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> np.ndarray:
    """Weights (bias first) maximising the penalised log-likelihood, by Newton's method."""
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(design @ weights, -50, 50)))
        gradient = design.T @ (p - y) + penalty @ weights
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return weights


def score(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(weights[0] + x @ weights[1:], -50, 50)))


def lowest_threshold(scores: np.ndarray, right: np.ndarray, precision: float) -> float:
    """The lowest score s such that the items scoring >= s are right at the wanted rate."""
    order = np.argsort(-scores)
    cumulative = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(cumulative >= precision)[0]
    return float(scores[order][ok.max()]) if len(ok) else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    targets, queries = load_split(args.data, "train")
    matcher = build_matcher(load_encoder(), targets)
    vectors = query_vectors(matcher, queries, "queries-train")

    documents = {str(doc.id): doc for doc in targets}
    rows, labels, groups = [], [], []
    for number, (query, vector) in enumerate(zip(queries, vectors, strict=True)):
        # Group 2n: the answer is archived; group 2n + 1: it is not. All of it is English.
        pools = [matcher.features(query.text, vector)]
        with without(matcher, [documents[t] for t in query.gold if t in documents]):
            pools.append(matcher.features(query.text, vector))
        for offset, pool in enumerate(pools):
            for doc_id, found in pool.items():
                rows.append(found.values())
                labels.append(float(doc_id in query.gold))
                groups.append(2 * number + offset)
    x, y, group = np.array(rows), np.array(labels), np.array(groups)
    print(f"{len(queries)} train tweets, {len(x)} candidate pairs, {int(y.sum())} gold in pools")

    out_of_fold = np.zeros(len(x))
    fold_of_group = (np.arange(2 * len(queries)) // 2) % FOLDS
    for fold in range(FOLDS):
        held = fold_of_group[group] == fold
        out_of_fold[held] = score(fit_logistic(x[~held], y[~held]), x[held])
    weights = fit_logistic(x, y)

    best_scores, best_right, map5 = [], [], 0.0
    for number in range(2 * len(queries)):
        mine = np.nonzero(group == number)[0]
        if not len(mine):
            continue
        ranked = mine[np.argsort(-out_of_fold[mine], kind="stable")][:5]
        best_scores.append(out_of_fold[ranked[0]])
        best_right.append(y[ranked[0]])
        if number % 2 == 0:
            hits = np.nonzero(y[ranked])[0]
            gold = len(queries[number // 2].gold)
            map5 += sum((i + 1) / (p + 1) for i, p in enumerate(hits)) / gold
    top, right = np.array(best_scores), np.array(best_right)
    reply = lowest_threshold(top, right, REPLY_PRECISION)
    below = top < reply
    ask = lowest_threshold(top[below], right[below], ASK_PRECISION) if below.any() else reply
    print(f"out-of-fold train MAP@5 {map5 / len(queries):.4f}")
    print(
        f"reply >= {reply:.3f}: {int((top >= reply).sum())} cases, "
        f"precision {right[top >= reply].mean():.4f}"
    )
    grey = (top >= ask) & (top < reply)
    if grey.any():
        print(f"ask   >= {ask:.3f}: {int(grey.sum())} cases, precision {right[grey].mean():.4f}")
    names = ", ".join(("bias", *FEATURE_NAMES))
    print(f"# {names}")
    print("WEIGHTS = (" + ", ".join(f"{w:.3f}" for w in weights) + ")")
    semantic = fit_logistic(x[:, [FEATURE_NAMES.index("semantic")]], y)
    print("SEMANTIC_WEIGHTS = (" + ", ".join(f"{w:.3f}" for w in semantic) + ")")
    print(f"FACT_CHECK_THRESHOLDS = Thresholds(reply={reply:.2f}, ask={ask:.2f})")


if __name__ == "__main__":
    main()
