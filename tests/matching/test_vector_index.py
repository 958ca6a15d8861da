"""The int8 vector index answers like the float32 one, in a quarter of the memory."""

from __future__ import annotations

import numpy as np
import pytest

from matching import VectorIndex
from matching.index import CELLS_FROM_ROWS


def _unit_rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, 512)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_int8_index_ranks_and_scores_like_float32() -> None:
    rows = _unit_rows(3000, seed=1)
    exact, quantised = VectorIndex(512), VectorIndex(512, dtype=np.int8)
    exact.add(list(range(3000)), rows)
    quantised.add(list(range(3000)), rows)
    for n in (0, 1234, 2999):
        query = rows[n] + 0.03 * _unit_rows(1, seed=n)[0]
        query /= np.linalg.norm(query)
        [(best, score)] = quantised.search(query, 1)
        assert best == exact.search(query, 1)[0][0] == n
        assert abs(score - exact.similarities([n], query)[0]) < 0.01
    assert quantised._matrix.nbytes * 4 == exact._matrix.nbytes


def test_int8_index_keeps_scores_right_after_a_removal_moves_the_last_row() -> None:
    rows = _unit_rows(100, seed=2)
    index = VectorIndex(512, dtype=np.int8)
    index.add([f"fc{n}" for n in range(100)], rows)
    index.remove("fc5")
    assert "fc5" not in index
    assert len(index) == 99
    [(best, score)] = index.search(rows[99], 1)
    assert best == "fc99"
    assert abs(score - 1.0) < 0.01
    assert abs(index.similarities(["fc99"], rows[99])[0] - 1.0) < 0.01


def _clustered_rows(count: int, dim: int, seed: int) -> np.ndarray:
    """Rows around a few hundred topics, as fact-checks cluster around recurring rumours."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((400, dim)).astype(np.float32)
    rows = topics[rng.integers(0, len(topics), count)] + 0.6 * rng.standard_normal(
        (count, dim)
    ).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _exact_top(rows: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-(rows @ query))[:k].tolist())


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_past_the_threshold_cells_find_what_an_exact_search_finds(dtype: type) -> None:
    count, dim = CELLS_FROM_ROWS + 10_000, 64
    rows = _clustered_rows(count, dim, seed=3)
    index = VectorIndex(dim, dtype=dtype)
    for start in range(0, count, 10_000):  # in batches, as a worker fills it at start-up
        index.add(list(range(start, min(start + 10_000, count))), rows[start : start + 10_000])
    assert index._centroids is not None
    rng = np.random.default_rng(4)
    found = 0
    for n in rng.choice(count, 100, replace=False):
        noise = rng.standard_normal(dim).astype(np.float32)
        query = rows[n] + 0.4 * noise / np.linalg.norm(noise)  # a rewording: cosine ~0.9
        query /= np.linalg.norm(query)
        top = [doc_id for doc_id, _ in index.search(query, 10)]
        assert top[0] == n
        found += len(set(top) & _exact_top(rows, query, 10))
    assert found / 1000 >= 0.95  # recall@10 against the exact search


def test_cells_follow_removals_and_replacements() -> None:
    count, dim = CELLS_FROM_ROWS, 32
    rows = _clustered_rows(count, dim, seed=5)
    index = VectorIndex(dim)
    index.add(list(range(count)), rows)
    assert index._centroids is not None
    index.remove(7)  # the last row moves into slot 7, with its cell
    [(best, _)] = index.search(rows[count - 1], 1)
    assert best == count - 1
    assert 7 not in {doc_id for doc_id, _ in index.search(rows[7], 20)}
    index.add([8], rows[9:10])  # a changed vector moves to its new cell
    assert {doc_id for doc_id, _ in index.search(rows[9], 2)} == {8, 9}


def test_rows_added_after_the_cells_are_sorted_in_and_the_dead_dropped() -> None:
    count, dim = CELLS_FROM_ROWS, 32
    rows = _clustered_rows(count + 20_000, dim, seed=6)
    index = VectorIndex(dim)
    index.add(list(range(count)), rows[:count])
    removed = list(range(0, 2000, 2))
    for doc_id in removed:
        index.remove(doc_id)
    for start in range(count, count + 20_000, 1000):  # enough to be sorted in, twice over
        index.add(list(range(start, start + 1000)), rows[start : start + 1000])
    assert len(index) == count + 20_000 - len(removed)
    assert index._sorted > count  # the new rows joined the cells, the dead left them
    assert None not in index._ids
    for doc_id in (1, 3, count, count + 19_999):
        assert index.search(rows[doc_id], 1)[0][0] == doc_id
    assert not set(removed) & {doc_id for doc_id, _ in index.search(rows[0], 50)}


def test_a_query_whose_nearest_cells_were_emptied_finds_nothing_there_without_failing() -> None:
    count, dim = CELLS_FROM_ROWS, 32
    rows = _clustered_rows(count, dim, seed=7)
    index = VectorIndex(dim)
    index.add(list(range(count)), rows)
    kept = int(np.flatnonzero(index._cell[: len(index)] == index._cell[0])[0])
    for doc_id in range(count):
        if doc_id != kept:
            index.remove(doc_id)
    copies = np.repeat(rows[kept : kept + 1], 5000, axis=0)
    index.add([f"copy{n}" for n in range(5000)], copies)
    assert len(index) == 5001
    assert None not in index._ids  # sorted in, and the dead dropped
    assert index.search(-rows[kept], 10) == []  # the far side: its nearest cells are empty
    assert index.search(rows[kept], 1)[0][1] > 0.99
