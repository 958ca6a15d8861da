"""In-memory indexes: BM25 over words and cosine search over sentence vectors.

Both keep their entries in flat numpy arrays, not in a Python object per entry: a posting
costs a dozen bytes rather than a dictionary slot, which at 100,000 fact-checks is tens of
megabytes instead of hundreds. BM25 is exact. The vector index is exact up to
``CELLS_FROM_ROWS`` rows; beyond, its rows are laid out cell by cell (spherical k-means) and a
query reads only the cells nearest to it (docs/MATCHING.md, "Scale").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

__all__ = ["LexicalIndex", "VectorIndex"]

DocId = Hashable
_BLOCK_ROWS = 4096  # rows of an int8 matrix widened to float32 at once (8 MB at 512-d)
CELLS_FROM_ROWS = 50_000  # below this a query reads every row: fast enough, and exact
_PROBED_CELLS = 24  # the cells a query reads
_KMEANS_ROUNDS = 8
_KMEANS_SAMPLE_PER_CELL = 32
_UNSORTED = 4096  # postings (or rows) kept aside before they are sorted in with the rest
_RANKED_IN_FULL = 16_384  # BM25 scores of more documents are narrowed before ranking
_SAMPLE_STEP = 16  # of those, every 16th bounds the best from below (_contenders)


def _top(scores: np.ndarray, slots: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best, best first; of equal scores the earlier slot, so that the choice among
    ties does not depend on which scores were ranked (see :func:`_contenders`)."""
    if len(slots) == 0 or k <= 0:
        return []
    if len(slots) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        tied = tied[np.argsort(slots[tied], kind="stable")][: k - len(above)]
        keep = np.concatenate([above, tied])
        slots, scores = slots[keep], scores[keep]
    order = np.lexsort((slots, -scores))
    return [(int(slots[i]), float(scores[i])) for i in order]


def _contenders(scores: np.ndarray, k: int) -> np.ndarray:
    """The slots of a dense row of scores that may be among its k best positive ones.

    A query's common words reach nearly every document, and ranking all of them took a pass
    of argpartition over the row: 0.9 ms at 100,000 fact-checks, half of a BM25 search. The
    k-th best of every 16th score is no better than the k-th best of all, so the scores at
    least that good hold the k best, and are a few hundred.
    """
    sample = scores[::_SAMPLE_STEP]
    if len(scores) >= _RANKED_IN_FULL and len(sample) > k:
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        if floor > 0:
            return np.flatnonzero(scores >= floor)
    return np.flatnonzero(scores > 0)


class _Column:
    """A one-dimensional numpy array that doubles when full, so appends are amortised O(1)."""

    def __init__(self, dtype: type) -> None:
        self._data = np.zeros(64, dtype=dtype)
        self.size = 0

    @property
    def values(self) -> np.ndarray:
        """The filled part, as a view: writes to it change the column."""
        return self._data[: self.size]

    def extend(self, values: Iterable[float] | np.ndarray) -> None:
        values = np.asarray(values if isinstance(values, np.ndarray) else list(values))
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self.values
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    def assign(self, values: np.ndarray) -> None:
        self._data = np.array(values, dtype=self._data.dtype)
        self.size = len(values)


def _idf(document_frequency: np.ndarray | int, documents: int) -> np.ndarray:
    """Robertson–Spärck Jones IDF, floored at a small positive value."""
    df = np.asarray(document_frequency, dtype=np.float64)
    return np.maximum(np.log1p((documents - df + 0.5) / (df + 0.5)), 1e-3)


class LexicalIndex:
    """Okapi BM25, with each document's distinct terms and counts in flat arrays.

    The postings (term → documents) are those arrays sorted by term. Documents added since the
    last sort are read from the unsorted end, and sorted in once there are enough of them; a
    removed document stays in the arrays, marked dead, until dead ones outnumber the living.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._term_of: dict[str, int] = {}
        self._vocabulary: list[str] = []
        self._df = _Column(np.int32)  # per term: live documents containing it
        self._slot_of: dict[DocId, int] = {}
        self._ids: list[DocId | None] = []  # per slot; None once removed
        self._start = _Column(np.int64)  # per slot: its first entry
        self._width = _Column(np.int32)  # per slot: its distinct terms
        self._length = _Column(np.float32)  # per slot: its tokens
        self._live = _Column(np.bool_)
        self._entry_term = _Column(np.int32)  # per entry: one (document, term, count)
        self._entry_count = _Column(np.float32)
        self._entry_slot = _Column(np.int32)
        self._sorted = 0  # entries [0, _sorted) are in the postings below
        self._offsets = np.zeros(1, dtype=np.int64)  # term t's postings: [offsets[t], [t+1])
        self._posting_slot = np.zeros(0, dtype=np.int32)
        self._posting_count = np.zeros(0, dtype=np.float32)
        self._posting_weight = np.zeros(0, dtype=np.float32)  # BM25 weight at _weighed_at
        self._weighed_at = 1.0  # the average document length the weights were computed for
        self._total_length = 0.0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot_of

    def _term_id(self, term: str) -> int:
        term_id = self._term_of.get(term)
        if term_id is None:
            term_id = self._term_of[term] = len(self._vocabulary)
            self._vocabulary.append(term)
            self._df.extend([0])
        return term_id

    def add(self, doc_id: DocId, tokens: Sequence[str]) -> None:
        """Index a document's tokens; an id already present is replaced."""
        self.remove(doc_id)
        counts = Counter(tokens)
        term_ids = [self._term_id(term) for term in counts]
        slot = len(self._ids)
        self._ids.append(doc_id)
        self._slot_of[doc_id] = slot
        self._start.extend([self._entry_term.size])
        self._width.extend([len(term_ids)])
        self._length.extend([len(tokens)])
        self._live.extend([True])
        self._entry_term.extend(term_ids)
        self._entry_count.extend(counts.values())
        self._entry_slot.extend([slot] * len(term_ids))
        self._df.values[term_ids] += 1
        self._total_length += len(tokens)
        if self._entry_term.size - self._sorted > max(_UNSORTED, self._sorted // 8):
            self._sort_postings()

    def remove(self, doc_id: DocId) -> None:
        slot = self._slot_of.pop(doc_id, None)
        if slot is None:
            return
        start = self._start.values[slot]
        self._df.values[self._entry_term.values[start : start + self._width.values[slot]]] -= 1
        self._total_length -= float(self._length.values[slot])
        self._length.values[slot] = 0
        self._live.values[slot] = False
        self._ids[slot] = None

    def _sort_postings(self) -> None:
        if len(self._ids) - len(self._slot_of) > max(1024, len(self._slot_of)):
            self._drop_dead()
        live = self._live.values[self._entry_slot.values]
        terms = self._entry_term.values[live]
        order = np.argsort(terms, kind="stable")
        self._posting_slot = self._entry_slot.values[live][order]
        self._posting_count = self._entry_count.values[live][order]
        per_term = np.bincount(terms, minlength=len(self._vocabulary))
        self._offsets = np.concatenate(([0], np.cumsum(per_term)))
        self._sorted = self._entry_term.size
        self._weigh_postings()

    def _weigh_postings(self) -> None:
        """Each posting's BM25 weight, so that a query only adds them up.

        Exact for the average document length of now; recomputed once it has moved by 1 %.
        """
        self._weighed_at = self._average_length() or 1.0
        lengths = self._length.values[self._posting_slot]
        self._posting_weight = self._weights(self._posting_count, lengths, self._weighed_at)

    def _drop_dead(self) -> None:
        """Renumber the living documents and forget terms no living document has."""
        live_slots = np.flatnonzero(self._live.values)
        new_slot = np.full(len(self._ids), -1, dtype=np.int32)
        new_slot[live_slots] = np.arange(len(live_slots), dtype=np.int32)
        keep = self._live.values[self._entry_slot.values]
        used_terms = np.flatnonzero(self._df.values > 0)
        new_term = np.full(len(self._vocabulary), -1, dtype=np.int32)
        new_term[used_terms] = np.arange(len(used_terms), dtype=np.int32)

        self._entry_term.assign(new_term[self._entry_term.values[keep]])
        self._entry_count.assign(self._entry_count.values[keep])
        self._entry_slot.assign(new_slot[self._entry_slot.values[keep]])
        widths = self._width.values[live_slots]
        self._width.assign(widths)
        self._start.assign(np.cumsum(widths) - widths)
        self._length.assign(self._length.values[live_slots])
        self._live.assign(np.ones(len(live_slots), dtype=np.bool_))
        self._ids = [self._ids[slot] for slot in live_slots]
        self._slot_of = {doc_id: slot for slot, doc_id in enumerate(self._ids)}
        self._vocabulary = [self._vocabulary[term] for term in used_terms]
        self._term_of = {term: term_id for term_id, term in enumerate(self._vocabulary)}
        self._df.assign(self._df.values[used_terms])

    def idf(self, term: str) -> float:
        """Robertson–Spärck Jones IDF, floored at a small positive value."""
        term_id = self._term_of.get(term)
        df = int(self._df.values[term_id]) if term_id is not None else 0
        return float(_idf(df, len(self._slot_of)))

    def _weights(self, tf: np.ndarray, lengths: np.ndarray, average: float) -> np.ndarray:
        """BM25's saturated, length-normalised term frequency."""
        return tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * lengths / average))

    def _average_length(self) -> float:
        return self._total_length / len(self._slot_of) if self._slot_of else 1.0

    def search(self, tokens: Sequence[str], k: int = 10) -> list[tuple[DocId, float]]:
        """The k best documents by BM25, best first; documents sharing no term are left out."""
        if not self._slot_of:
            return []
        if self._entry_term.size - self._sorted > _UNSORTED:
            self._sort_postings()
        average = self._average_length() or 1.0
        if abs(average - self._weighed_at) > 0.01 * average:
            self._weigh_postings()
        term_ids, term_weights = self._query_terms(tokens)
        # Scores add up in one dense row: a term's postings hold each slot once, so no sort.
        totals = np.zeros(len(self._ids), dtype=np.float32)
        for term_id, weight in zip(term_ids.tolist(), term_weights, strict=True):
            if term_id + 1 < len(self._offsets):
                start, stop = self._offsets[term_id], self._offsets[term_id + 1]
                slots, weights = self._posting_slot[start:stop], self._posting_weight[start:stop]
                np.add.at(totals, slots, weight * weights)
        # The documents added since the last sort: their entries of any query term at once.
        unsorted_terms = self._entry_term.values[self._sorted :]
        newer = self._sorted + np.flatnonzero(np.isin(unsorted_terms, term_ids))
        if len(newer):
            by_term = np.argsort(term_ids)
            found = self._entry_term.values[newer]
            weights = term_weights[by_term[np.searchsorted(term_ids, found, sorter=by_term)]]
            slots = self._entry_slot.values[newer]
            tf, lengths = self._entry_count.values[newer], self._length.values[slots]
            np.add.at(totals, slots, weights * self._weights(tf, lengths, average))
        totals *= self._live.values  # removed documents' postings stay until a tidy-up
        hits = _contenders(totals, k)
        return [(self._ids[slot], score) for slot, score in _top(totals[hits], hits, k)]

    def _query_terms(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The query's terms that living documents have, and their weights (IDF × count)."""
        counts = Counter(tokens)
        term_ids = np.array([self._term_of.get(term, -1) for term in counts], dtype=np.int64)
        query_counts = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        known = term_ids >= 0
        term_ids, query_counts = term_ids[known], query_counts[known]
        in_use = self._df.values[term_ids] > 0
        term_ids, query_counts = term_ids[in_use], query_counts[in_use]
        weights = _idf(self._df.values[term_ids], len(self._slot_of)) * query_counts
        return term_ids, weights.astype(np.float32)

    def overlap(
        self, tokens: Sequence[str], doc_ids: Sequence[DocId]
    ) -> tuple[np.ndarray, np.ndarray]:
        """IDF-weighted shares of the query's distinct terms found in each document, and of
        each document's terms found in the query; zeros for a document not indexed.
        """
        documents = len(self._slot_of)
        query_terms = set(tokens)
        known = np.array(
            [t for term in query_terms if (t := self._term_of.get(term)) is not None], np.int32
        )
        unknown = len(query_terms) - len(known)
        query_total = float(_idf(self._df.values[known], documents).sum())
        query_total += unknown * float(_idf(0, documents))

        slots = np.array([self._slot_of.get(doc_id, -1) for doc_id in doc_ids], dtype=np.int64)
        found = slots >= 0
        widths = np.zeros(len(slots), dtype=np.int64)
        widths[found] = self._width.values[slots[found]]
        starts = np.zeros(len(slots), dtype=np.int64)
        starts[found] = self._start.values[slots[found]]
        owner = np.repeat(np.arange(len(doc_ids)), widths)
        first = np.cumsum(widths) - widths
        entries = np.repeat(starts - first, widths) + np.arange(widths.sum())
        terms = self._entry_term.values[entries]
        weights = _idf(self._df.values[terms], documents)
        shared = np.bincount(owner, weights * np.isin(terms, known), minlength=len(doc_ids))
        doc_totals = np.bincount(owner, weights, minlength=len(doc_ids))
        query_share = shared / query_total if query_total else np.zeros(len(doc_ids))
        doc_share = np.divide(shared, doc_totals, out=np.zeros(len(doc_ids)), where=doc_totals > 0)
        return query_share, doc_share


class VectorIndex:
    """Cosine search over L2-normalised rows kept in one contiguous, growing matrix.

    With an integer ``dtype`` (``np.int8``) each row is stored scaled by 127 over its largest
    component, a quarter of float32's memory (512 MB for a million 512-d rows); scores are
    then within about 0.005 of the float32 cosine (docs/BENCHMARKS.md, matching scale).

    From ``CELLS_FROM_ROWS`` rows on, the rows are sorted by coarse cell, so that a query reads
    the cells nearest to it as a few contiguous blocks. Rows added since the last sort are read
    in full until there are enough of them to sort in; a row removed from a sorted cell stays
    there, marked dead, until then.
    """

    def __init__(self, dim: int, *, dtype: type = np.float32) -> None:
        self.dim = dim
        self._quantised = bool(np.issubdtype(dtype, np.integer))
        self._matrix = np.zeros((0, dim), dtype=dtype)
        self._scale = np.zeros(0, dtype=np.float32)  # quantised rows: stored = vector * scale
        self._live = np.zeros(0, dtype=np.bool_)
        self._ids: list[DocId | None] = []
        self._slot_of: dict[DocId, int] = {}
        self._centroids: np.ndarray | None = None  # unit centroids, once there are cells
        self._cell = np.zeros(0, dtype=np.int32)  # per slot
        self._bounds = np.zeros(1, dtype=np.int64)  # cell c is rows [bounds[c], bounds[c+1])
        self._sorted = 0  # rows [0, _sorted) are sorted by cell; the rest are read in full
        self._cells_built_at = 0

    def __len__(self) -> int:
        return len(self._slot_of)

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
            if slot is not None and slot < self._sorted:
                self._kill(slot)  # its cell may change: it joins the unsorted rows
                slot = None
            if slot is None:
                slot = len(self._ids)
                if slot >= len(self._matrix):
                    self._grow()
                self._ids.append(doc_id)
                self._slot_of[doc_id] = slot
                self._live[slot] = True
            self._matrix[slot] = vector
            self._scale[slot] = scale
            if cells is not None:
                self._cell[slot] = cells[n]
        # Cells are (re)built when the rows first reach the threshold and each time they double.
        if len(self) >= max(CELLS_FROM_ROWS, 2 * self._cells_built_at):
            self._build_cells()
        else:
            self._tidy()

    def _tidy(self) -> None:
        """Sort in the unsorted rows and drop the dead ones, once there are enough of either."""
        unsorted, dead = len(self._ids) - self._sorted, len(self._ids) - len(self)
        if self._centroids is not None and unsorted + dead > max(_UNSORTED, self._sorted // 8):
            self._sort_by_cell(self._centroids)

    def _grow(self) -> None:
        size, used = max(64, 2 * len(self._matrix)), len(self._ids)
        grown = np.zeros((size, self.dim), self._matrix.dtype)
        grown[:used] = self._matrix[:used]
        self._matrix = grown
        for name, dtype in (("_scale", np.float32), ("_cell", np.int32), ("_live", np.bool_)):
            column = np.zeros(size, dtype=dtype)
            column[:used] = getattr(self, name)[:used]
            setattr(self, name, column)

    def _kill(self, slot: int) -> None:
        """Mark a sorted row dead: moving another into its place would break its cell."""
        self._ids[slot] = None
        self._live[slot] = False
        self._matrix[slot] = 0

    def _rows(self, slots: np.ndarray | slice) -> np.ndarray:
        """Stored rows as float32 unit vectors."""
        rows = self._matrix[slots]
        if not self._quantised:
            return rows
        return rows.astype(np.float32) / self._scale[slots][:, None]

    def _scores(self, start: int, stop: int, query: np.ndarray) -> np.ndarray:
        """Cosines of rows [start, stop) with the query."""
        if not self._quantised:
            return self._matrix[start:stop] @ query
        # numpy has no fast integer matmul: widen a cache-sized block at a time instead.
        scores = np.empty(stop - start, dtype=np.float32)
        for block in range(start, stop, _BLOCK_ROWS):
            end = min(block + _BLOCK_ROWS, stop)
            scores[block - start : end - start] = self._matrix[block:end].astype(np.float32) @ query
        return scores / self._scale[start:stop]

    @staticmethod
    def _nearest_cells(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        cells = np.empty(len(vectors), dtype=np.int32)
        for start in range(0, len(vectors), _BLOCK_ROWS):
            block = vectors[start : start + _BLOCK_ROWS]
            cells[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
        return cells

    def _build_cells(self) -> None:
        """Spherical k-means on a sample of the rows, seeded for repeatable cells."""
        live = np.flatnonzero(self._live[: len(self._ids)])
        count = int(math.sqrt(len(live)))  # about as many cells as rows per cell
        rng = np.random.default_rng(0)
        sample_size = min(len(live), count * _KMEANS_SAMPLE_PER_CELL)
        sample = self._rows(np.sort(rng.choice(live, sample_size, replace=False)))
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
        for start in range(0, len(self._ids), _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, len(self._ids))
            self._cell[start:stop] = self._nearest_cells(self._rows(slice(start, stop)), centroids)
        self._cells_built_at = len(live)
        self._sort_by_cell(centroids)

    def _sort_by_cell(self, centroids: np.ndarray) -> None:
        """Lay the living rows out cell by cell, dropping the dead ones."""
        used = len(self._ids)
        live = np.flatnonzero(self._live[:used])
        order = live[np.argsort(self._cell[live], kind="stable")]
        count = len(order)
        self._matrix[:count] = self._matrix[order]
        self._matrix[count:used] = 0
        for column in (self._scale, self._cell):
            column[:count] = column[order]
        self._live[:count], self._live[count:used] = True, False
        self._ids = [self._ids[slot] for slot in order]
        self._slot_of = {doc_id: slot for slot, doc_id in enumerate(self._ids)}
        per_cell = np.bincount(self._cell[:count], minlength=len(centroids))
        self._bounds = np.concatenate(([0], np.cumsum(per_cell)))
        self._sorted = count

    def remove(self, doc_id: DocId) -> None:
        """Remove a row: in a sorted cell, mark it dead; else move the last row into its place."""
        slot = self._slot_of.pop(doc_id, None)
        if slot is None:
            return
        if slot < self._sorted:
            self._kill(slot)
            self._tidy()
            return
        last = len(self._ids) - 1  # an unsorted row, as the removed one is
        if slot != last:
            moved = self._ids[last]
            self._matrix[slot] = self._matrix[last]
            self._scale[slot] = self._scale[last]
            self._cell[slot] = self._cell[last]
            self._ids[slot] = moved
            self._slot_of[moved] = slot
        self._ids.pop()
        self._matrix[last] = 0
        self._live[last] = False

    def vector(self, doc_id: DocId) -> np.ndarray | None:
        slot = self._slot_of.get(doc_id)
        if slot is None:
            return None
        row = self._matrix[slot]
        return row.astype(np.float32) / self._scale[slot] if self._quantised else row

    def similarities(self, doc_ids: Sequence[DocId], query: np.ndarray) -> np.ndarray:
        """Cosines of the given rows with the query; 0 for an unknown id.

        A pair's score must not depend on the rest of the archive, yet a matrix product moves
        a row's cosine in its last bits with the rows scored beside it (BLAS picks its kernel
        by shape and alignment), in float32 and float64 alike. Each row is summed on its own.
        """
        slots = np.array([self._slot_of.get(doc_id, -1) for doc_id in doc_ids], dtype=np.int64)
        found = slots >= 0
        scores = np.zeros(len(doc_ids), dtype=np.float64)
        if found.any():
            rows = self._rows(slots[found]).astype(np.float64)
            scores[found] = np.einsum("ij,j->i", rows, np.asarray(query, dtype=np.float64))
        return scores

    def search(self, query: np.ndarray, k: int = 10) -> list[tuple[DocId, float]]:
        """The k most similar rows by cosine (rows and query are unit vectors), best first."""
        if not self._slot_of:
            return []
        used = len(self._ids)
        query = np.asarray(query, dtype=np.float32)
        if self._centroids is None:
            slots, scores = np.arange(used), self._scores(0, used, query)
        else:
            closeness = self._centroids @ query
            probed = np.arange(len(closeness))
            if len(probed) > _PROBED_CELLS:
                probed = np.argpartition(-closeness, _PROBED_CELLS - 1)[:_PROBED_CELLS]
            ranges = [(int(self._bounds[c]), int(self._bounds[c + 1])) for c in np.sort(probed)]
            ranges.append((self._sorted, used))
            ranges = [(start, stop) for start, stop in ranges if stop > start]
            if not ranges:  # the nearest cells emptied by removals
                return []
            slots = np.concatenate([np.arange(start, stop) for start, stop in ranges])
            scores = np.concatenate([self._scores(start, stop, query) for start, stop in ranges])
            live = self._live[slots]
            slots, scores = slots[live], scores[live]
        return [(self._ids[slot], score) for slot, score in _top(scores, slots, k)]
