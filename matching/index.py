"""In-memory indexes: BM25 over words and cosine search over sentence vectors.

BM25 is exact. The vector index is exact up to ``CELLS_FROM_ROWS`` rows; beyond, it reads only
the rows in the coarse cells (spherical k-means) nearest the query, so a query no longer reads
every row (docs/MATCHING.md, "Scale").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["LexicalIndex", "VectorIndex"]

DocId = Hashable
_BLOCK_ROWS = 4096  # rows of an int8 matrix widened to float32 at once (8 MB at 512-d)
CELLS_FROM_ROWS = 50_000  # below this a query reads every row: fast enough, and exact
_PROBED_CELLS = 24  # the cells a query reads
_KMEANS_ROUNDS = 8
_KMEANS_SAMPLE_PER_CELL = 32


def _top(scores: np.ndarray, slots: np.ndarray, k: int) -> list[tuple[int, float]]:
    if len(slots) == 0 or k <= 0:
        return []
    if len(slots) > k:
        keep = np.argpartition(-scores, k - 1)[:k]
        slots, scores = slots[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return [(int(slots[i]), float(scores[i])) for i in order]


class LexicalIndex:
    """Okapi BM25 with per-term postings kept as numpy arrays, rebuilt lazily after changes."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._slot_of: dict[DocId, int] = {}
        self._ids: list[DocId | None] = []
        self._terms: list[Counter[str] | None] = []
        self._length = np.zeros(0, dtype=np.float32)
        self._postings: dict[str, dict[int, int]] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._total_length = 0.0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot_of

    def add(self, doc_id: DocId, tokens: Sequence[str]) -> None:
        """Index a document's tokens; an id already present is replaced."""
        self.remove(doc_id)
        counts = Counter(tokens)
        slot = len(self._ids)
        self._ids.append(doc_id)
        self._terms.append(counts)
        self._slot_of[doc_id] = slot
        if slot >= len(self._length):
            grown = np.zeros(max(16, 2 * len(self._length)), dtype=np.float32)
            grown[: len(self._length)] = self._length
            self._length = grown
        self._length[slot] = len(tokens)
        self._total_length += len(tokens)
        for term, count in counts.items():
            self._postings.setdefault(term, {})[slot] = count
            self._arrays.pop(term, None)

    def remove(self, doc_id: DocId) -> None:
        slot = self._slot_of.pop(doc_id, None)
        if slot is None:
            return
        counts = self._terms[slot] or Counter()
        for term in counts:
            postings = self._postings.get(term)
            if postings is not None:
                postings.pop(slot, None)
                if not postings:
                    del self._postings[term]
            self._arrays.pop(term, None)
        self._total_length -= float(self._length[slot])
        self._length[slot] = 0
        self._ids[slot] = None
        self._terms[slot] = None

    def idf(self, term: str) -> float:
        """Robertson–Spärck Jones IDF, floored at a small positive value."""
        n = len(self._postings.get(term, ()))
        total = len(self._slot_of)
        return max(math.log(1 + (total - n + 0.5) / (n + 0.5)), 1e-3)

    def terms(self, doc_id: DocId) -> Counter[str]:
        slot = self._slot_of.get(doc_id)
        return (self._terms[slot] or Counter()) if slot is not None else Counter()

    def _array(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self._arrays.get(term)
        if cached is None:
            postings = self._postings[term]
            cached = (
                np.fromiter(postings.keys(), dtype=np.int64, count=len(postings)),
                np.fromiter(postings.values(), dtype=np.float32, count=len(postings)),
            )
            self._arrays[term] = cached
        return cached

    def search(self, tokens: Sequence[str], k: int = 10) -> list[tuple[DocId, float]]:
        """The k best documents by BM25, best first; documents sharing no term are left out."""
        if not self._slot_of:
            return []
        average = self._total_length / len(self._slot_of) or 1.0
        # Scores add up in one dense row: a term's postings hold each slot once, so no sort
        # (np.unique over every posting was a tenth of a tip's matching at 100k documents).
        totals = np.zeros(len(self._ids), dtype=np.float64)
        for term, query_count in Counter(tokens).items():
            if term not in self._postings:
                continue
            slots, tf = self._array(term)
            norm = self.k1 * (1 - self.b + self.b * self._length[slots] / average)
            totals[slots] += self.idf(term) * query_count * tf * (self.k1 + 1) / (tf + norm)
        hits = np.flatnonzero(totals)
        scores = totals[hits].astype(np.float32)
        return [(self._ids[slot], score) for slot, score in _top(scores, hits, k)]


class VectorIndex:
    """Exact cosine search over L2-normalised rows kept in one contiguous, growing matrix.

    With an integer ``dtype`` (``np.int8``) each row is stored scaled by 127 over its largest
    component, a quarter of float32's memory (512 MB for a million 512-d rows); scores are
    then within about 0.005 of the float32 cosine (docs/BENCHMARKS.md, matching scale).
    """

    def __init__(self, dim: int, *, dtype: type = np.float32) -> None:
        self.dim = dim
        self._quantised = bool(np.issubdtype(dtype, np.integer))
        self._matrix = np.zeros((0, dim), dtype=dtype)
        self._scale = np.zeros(0, dtype=np.float32)  # quantised rows: stored = vector * scale
        self._ids: list[DocId] = []
        self._slot_of: dict[DocId, int] = {}
        # Coarse cells, once there are CELLS_FROM_ROWS rows: unit centroids, and each slot's.
        self._centroids: np.ndarray | None = None
        self._cell = np.zeros(0, dtype=np.int32)
        self._cells_built_at = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot_of

    def add(self, ids: Sequence[DocId], vectors: np.ndarray) -> None:
        """Add or replace rows; the matrix doubles when full, so adds are amortised O(1)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        centroids = self._centroids
        cells = self._nearest_cells(vectors, centroids) if centroids is not None else None
        scales = np.ones(len(ids), dtype=np.float32)
        if self._quantised:
            peaks = np.abs(vectors).max(axis=1, initial=0.0)
            scales = np.divide(127.0, peaks, out=scales, where=peaks > 0)
            vectors = np.rint(vectors * scales[:, None])
        for n, (doc_id, vector, scale) in enumerate(zip(ids, vectors, scales, strict=True)):
            slot = self._slot_of.get(doc_id)
            if slot is None:
                slot = len(self._ids)
                if slot >= len(self._matrix):
                    self._grow()
                self._ids.append(doc_id)
                self._slot_of[doc_id] = slot
            self._matrix[slot] = vector
            self._scale[slot] = scale
            if cells is not None:
                self._cell[slot] = cells[n]
        # Cells are (re)built when the rows first reach the threshold and each time they double.
        if len(self._ids) >= max(CELLS_FROM_ROWS, 2 * self._cells_built_at):
            self._build_cells()

    def _grow(self) -> None:
        size, used = max(64, 2 * len(self._matrix)), len(self._ids)
        grown = np.zeros((size, self.dim), self._matrix.dtype)
        grown[:used] = self._matrix[:used]
        self._matrix = grown
        scale = np.ones(size, dtype=np.float32)
        scale[:used] = self._scale[:used]
        self._scale = scale
        cell = np.zeros(size, dtype=np.int32)
        cell[:used] = self._cell[:used]
        self._cell = cell

    def _rows(self, slots: np.ndarray | slice) -> np.ndarray:
        """Stored rows as float32 unit vectors."""
        rows = self._matrix[slots]
        if not self._quantised:
            return rows
        return rows.astype(np.float32) / self._scale[slots][:, None]

    @staticmethod
    def _nearest_cells(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        cells = np.empty(len(vectors), dtype=np.int32)
        for start in range(0, len(vectors), _BLOCK_ROWS):
            block = vectors[start : start + _BLOCK_ROWS]
            cells[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
        return cells

    def _build_cells(self) -> None:
        """Spherical k-means on a sample of the rows, seeded for repeatable cells."""
        used = len(self._ids)
        count = int(math.sqrt(used))  # about as many cells as rows per cell
        rng = np.random.default_rng(0)
        sample_size = min(used, count * _KMEANS_SAMPLE_PER_CELL)
        sample = self._rows(np.sort(rng.choice(used, sample_size, replace=False)))
        centroids = sample[rng.choice(sample_size, count, replace=False)]
        for _ in range(_KMEANS_ROUNDS):
            assigned = np.argmax(sample @ centroids.T, axis=1)
            sums = np.zeros_like(centroids)
            np.add.at(sums, assigned, sample)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            empty = norms[:, 0] == 0
            sums[empty] = sample[rng.choice(sample_size, int(empty.sum()))]
            centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        self._centroids = centroids = centroids.astype(np.float32)
        for start in range(0, used, _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, used)
            rows = self._rows(slice(start, stop))
            self._cell[start:stop] = self._nearest_cells(rows, centroids)
        self._cells_built_at = used

    def remove(self, doc_id: DocId) -> None:
        """Remove a row by moving the last row into its place."""
        slot = self._slot_of.pop(doc_id, None)
        if slot is None:
            return
        last = len(self._ids) - 1
        if slot != last:
            moved = self._ids[last]
            self._matrix[slot] = self._matrix[last]
            self._scale[slot] = self._scale[last]
            self._cell[slot] = self._cell[last]
            self._ids[slot] = moved
            self._slot_of[moved] = slot
        self._ids.pop()
        self._matrix[last] = 0

    def vector(self, doc_id: DocId) -> np.ndarray | None:
        slot = self._slot_of.get(doc_id)
        if slot is None:
            return None
        row = self._matrix[slot]
        return row.astype(np.float32) / self._scale[slot] if self._quantised else row

    def similarity(self, doc_id: DocId, query: np.ndarray) -> float:
        row = self.vector(doc_id)
        return 0.0 if row is None else float(row @ query)

    def search(self, query: np.ndarray, k: int = 10) -> list[tuple[DocId, float]]:
        """The k most similar rows by cosine (rows and query are unit vectors), best first."""
        if not self._ids:
            return []
        used = len(self._ids)
        query = np.asarray(query, dtype=np.float32)
        if self._centroids is not None:
            probed = np.argsort(-(self._centroids @ query))[:_PROBED_CELLS]
            slots = np.flatnonzero(np.isin(self._cell[:used], probed))
            scores = self._rows(slots) @ query
            return [(self._ids[slot], score) for slot, score in _top(scores, slots, k)]
        if self._quantised:
            # numpy has no fast integer matmul: widen a cache-sized block at a time instead.
            scores = np.empty(used, dtype=np.float32)
            for start in range(0, used, _BLOCK_ROWS):
                stop = min(start + _BLOCK_ROWS, used)
                scores[start:stop] = self._matrix[start:stop].astype(np.float32) @ query
            scores /= self._scale[:used]
        else:
            scores = self._matrix[:used] @ query
        slots = np.arange(used)
        return [(self._ids[slot], score) for slot, score in _top(scores, slots, k)]
