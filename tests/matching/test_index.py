"""The in-memory indexes: BM25 ranking and exact cosine search, both kept current row by row."""

from __future__ import annotations

import numpy as np
import pytest

from matching import LexicalIndex, VectorIndex, tokenize
from matching import index as index_module

DOCS = {
    "banks": "banks close on monday withdraw your money",
    "5g": "5g masts spread a virus",
    "water": "drinking tap water is poisoned",
    "lemon": "drinking hot lemon water cures cancer",
    "moon": "the moon landing was filmed in a studio",
}


@pytest.fixture
def lexical() -> LexicalIndex:
    index = LexicalIndex()
    for doc_id, text in DOCS.items():
        index.add(doc_id, tokenize(text))
    return index


def test_bm25_ranks_the_document_sharing_the_rare_words_first(lexical: LexicalIndex) -> None:
    ranked = lexical.search(tokenize("tap water poisoned"), k=3)
    assert [doc_id for doc_id, _ in ranked][:2] == ["water", "lemon"]
    assert ranked[0][1] > ranked[1][1] > 0


def test_bm25_leaves_out_documents_sharing_no_word(lexical: LexicalIndex) -> None:
    assert {doc_id for doc_id, _ in lexical.search(tokenize("5g virus"), k=10)} == {"5g"}
    assert lexical.search(tokenize("entirely unrelated"), k=10) == []
    assert lexical.search([], k=10) == []


def test_bm25_returns_at_most_k_best_first(lexical: LexicalIndex) -> None:
    ranked = lexical.search(tokenize("drinking water banks moon virus"), k=2)
    assert len(ranked) == 2
    assert ranked[0][1] >= ranked[1][1]


def test_a_rarer_word_weighs_more(lexical: LexicalIndex) -> None:
    assert lexical.idf("poisoned") > lexical.idf("drinking") > 0


def test_removed_documents_are_not_found_and_do_not_count(lexical: LexicalIndex) -> None:
    lexical.remove("water")
    lexical.remove("never-added")
    assert "water" not in lexical
    assert len(lexical) == 4
    assert [doc_id for doc_id, _ in lexical.search(tokenize("tap water poisoned"))] == ["lemon"]
    assert [list(share) for share in lexical.overlap(["water"], ["water"])] == [[0.0], [0.0]]


def test_adding_an_existing_id_replaces_it(lexical: LexicalIndex) -> None:
    lexical.add("moon", tokenize("banks are open on sunday"))
    assert len(lexical) == len(DOCS)
    assert lexical.search(tokenize("moon landing studio")) == []
    assert "moon" in {doc_id for doc_id, _ in lexical.search(tokenize("sunday"))}


def test_an_empty_lexical_index_finds_nothing() -> None:
    assert LexicalIndex().search(["banks"]) == []


def _unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_vector_search_finds_each_row_itself_first_and_grows_past_its_capacity() -> None:
    rows = _unit_rows(200, 32, seed=1)  # more than the initial 64 slots
    index = VectorIndex(32)
    index.add(list(range(200)), rows)
    assert len(index) == 200
    for i in (0, 63, 64, 199):
        (best, score), *rest = index.search(rows[i], k=3)
        assert best == i
        assert score == pytest.approx(1.0, abs=1e-5)
        assert len(rest) == 2
        assert all(s < score for _, s in rest)


def test_vector_add_replaces_an_existing_id() -> None:
    rows = _unit_rows(3, 16, seed=2)
    index = VectorIndex(16)
    index.add(["a", "b"], rows[:2])
    index.add(["a"], rows[2:])
    assert len(index) == 2
    assert np.allclose(index.vector("a"), rows[2])
    assert index.search(rows[2], k=1)[0][0] == "a"


def test_vector_remove_moves_the_last_row_and_keeps_the_others_findable() -> None:
    rows = _unit_rows(5, 16, seed=3)
    index = VectorIndex(16)
    index.add(list("abcde"), rows)
    index.remove("b")
    index.remove("missing")
    assert len(index) == 4
    assert "b" not in index
    assert index.vector("b") is None
    assert index.similarities(["b", "a"], rows[1])[0] == 0.0
    for i, doc_id in enumerate("abcde"):
        if doc_id != "b":
            assert index.search(rows[i], k=1)[0][0] == doc_id
    assert {doc_id for doc_id, _ in index.search(rows[0], k=10)} == set("acde")


def test_an_empty_vector_index_finds_nothing() -> None:
    assert VectorIndex(8).search(np.ones(8, dtype=np.float32) / np.sqrt(8)) == []


@pytest.mark.parametrize(
    "dtype",
    [np.float16, np.int8],
)
def test_compact_dtypes_give_the_same_top_result_as_float32(dtype: type) -> None:
    rows = _unit_rows(100, 64, seed=4)
    queries = _unit_rows(100, 64, seed=5) * 0.3 + rows  # each query is near its own row
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact, compact = VectorIndex(64), VectorIndex(64, dtype=dtype)
    for index in (exact, compact):
        index.add(list(range(100)), rows)
    for query in queries:
        assert compact.search(query, k=1)[0][0] == exact.search(query, k=1)[0][0]


def _direct_bm25(docs: dict[int, list[str]], query: list[str]) -> dict[int, float]:
    """BM25 written out over the documents, as a reference for the index's arrays."""
    k1, b = 1.2, 0.75
    average = sum(len(tokens) for tokens in docs.values()) / len(docs)
    scores: dict[int, float] = {}
    for term in set(query):
        having = [doc_id for doc_id, tokens in docs.items() if term in tokens]
        idf = max(np.log(1 + (len(docs) - len(having) + 0.5) / (len(having) + 0.5)), 1e-3)
        for doc_id in having:
            tf = docs[doc_id].count(term)
            norm = k1 * (1 - b + b * len(docs[doc_id]) / average)
            scores[doc_id] = scores.get(doc_id, 0.0) + idf * query.count(term) * tf * (k1 + 1) / (
                tf + norm
            )
    return scores


def test_bm25_scores_stay_exact_through_adds_replacements_and_removals() -> None:
    rng = np.random.default_rng(7)
    vocabulary = [f"w{n}" for n in range(300)]

    def document() -> list[str]:
        return [vocabulary[int(i)] for i in rng.zipf(1.3, int(rng.integers(3, 15))) % 300]

    index, docs = LexicalIndex(), {}
    for doc_id in range(3000):  # far more postings than are kept unsorted
        docs[doc_id] = document()
        index.add(doc_id, docs[doc_id])
    for doc_id in rng.choice(3000, 2000, replace=False).tolist():  # more dead than living
        index.remove(doc_id)
        del docs[doc_id]
    for doc_id in list(docs)[:200]:
        docs[doc_id] = document()
        index.add(doc_id, docs[doc_id])
    for doc_id in range(3000, 3600):
        docs[doc_id] = document()
        index.add(doc_id, docs[doc_id])
    assert len(index) == len(docs) == 1600
    assert len(index._ids) < 3600  # the dead were dropped

    for _ in range(30):
        query = document()
        expected = _direct_bm25(docs, query)
        found = index.search(query, k=10)
        assert len(found) == min(10, len(expected))
        for doc_id, score in found:
            assert score == pytest.approx(expected[doc_id], rel=0.02)
        tenth_best = sorted(expected.values(), reverse=True)[len(found) - 1]
        assert found[-1][1] >= tenth_best * 0.98  # nothing better was left out


def test_bm25_over_many_documents_finds_the_k_best_of_all_and_ties_go_to_the_older(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past 16,384 documents a search ranks only the scores that may be among the best."""
    rng = np.random.default_rng(11)
    vocabulary = [f"w{n}" for n in range(60)]
    index = LexicalIndex()
    for doc_id in range(20_000):  # four words of sixty: ties by the thousand
        index.add(doc_id, [vocabulary[int(i)] for i in rng.integers(0, 60, 4)])
    for doc_id in rng.choice(20_000, 4_000, replace=False).tolist():
        index.remove(doc_id)
    queries = [[vocabulary[int(i)] for i in rng.integers(0, 60, 3)] for _ in range(40)]
    narrowed = [index.search(query, k=10) for query in queries]
    monkeypatch.setattr(index_module, "_RANKED_IN_FULL", 10**9)
    assert narrowed == [index.search(query, k=10) for query in queries]  # every score ranked
    tied_for_tenth = 0
    for query, found in zip(queries, narrowed, strict=True):
        everything = index.search(query, k=len(index))  # all sorted, none chosen among ties
        assert everything == sorted(everything, key=lambda hit: (-hit[1], hit[0]))
        assert found == everything[:10]
        tied_for_tenth += everything[9][1] == everything[10][1]
    assert tied_for_tenth >= 10


def test_overlap_is_the_idf_weighted_share_of_shared_words(lexical: LexicalIndex) -> None:
    query = tokenize("tap water poisoned tonight")
    [water, moon, missing], [water_doc, moon_doc, missing_doc] = lexical.overlap(
        query, ["water", "moon", "never-added"]
    )
    idf = {term: lexical.idf(term) for term in set(query) | set(tokenize(DOCS["water"]))}
    shared = idf["tap"] + idf["water"] + idf["poisoned"]
    assert water == pytest.approx(shared / (shared + idf["tonight"]))
    document = sum(idf[term] for term in set(tokenize(DOCS["water"])))
    assert water_doc == pytest.approx(shared / document)
    assert moon == moon_doc == missing == missing_doc == 0.0
