"""The indexes a worker holds: a forward matched before new claims were indexed."""

from __future__ import annotations

import numpy as np
import pytest

import matching.holder
from matching import CLAIM_THRESHOLDS, FACT_CHECK_THRESHOLDS, Document, Encoder
from matching.holder import IndexHolder

TIP = "Banks will freeze all accounts on Monday, withdraw your cash now"
CLAIMS = {
    1: ("The river water is poisoned tonight, do not drink it", "en"),
    2: ("Die Banken frieren am Montag alle Konten ein", "de"),
    3: ("Vaccines at the school clinic contain microchips", "en"),
}
LATER_CLAIMS = {
    4: ("Банки заморозят все счета в понедельник, снимайте наличные", "ru"),
    5: ("The mayor has fled the country with the city budget", "en"),
    6: ("Banks freeze every account on Monday: take your cash out now", "en"),
    7: ("A famous singer has banned bread in Lagos", "en"),
}


def _documents(claims: dict[int, tuple[str, str]]) -> list[Document]:
    return [Document(claim_id, text, lang=lang) for claim_id, (text, lang) in claims.items()]


def _holder(encoder: Encoder) -> IndexHolder:
    holder = IndexHolder(encoder, FACT_CHECK_THRESHOLDS, CLAIM_THRESHOLDS, np.int8)
    holder.apply_claims(_documents(CLAIMS), [])
    return holder


def test_claims_indexed_after_a_match_are_scored_as_a_search_would_now(encoder: Encoder) -> None:
    holder = _holder(encoder)
    matches = holder.match(TIP, "en", 5)
    assert matches.claims_up_to == 3
    assert matches.claims[0].id == 2  # the German one, before the closer ones came

    holder.apply_claims(_documents(LATER_CLAIMS), [2])  # and the German one is closed
    again = holder.search_claims_again(matches, TIP, "en")

    assert again.claims == holder.claims.search(TIP, lang="en", vector=matches.vector, top_k=5)
    assert again.claims[0].id == 6
    assert again.claims[0].decision == "reply"
    assert 2 not in {c.id for c in again.claims}
    assert again.claims_up_to == 7


def test_a_match_older_than_the_claims_remembered_searches_every_claim(
    encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching.holder, "_NEWER_CLAIMS_KEPT", 2)
    holder = _holder(encoder)
    matches = holder.match(TIP, "en", 5)
    # The closest claim comes first, then two more push it out of what is remembered.
    holder.apply_claims(_documents({6: LATER_CLAIMS[6]}), [])
    holder.apply_claims(_documents({5: LATER_CLAIMS[5], 7: LATER_CLAIMS[7]}), [])

    again = holder.search_claims_again(matches, TIP, "en")

    assert again.claims[0].id == 6
    assert again.claims == holder.claims.search(TIP, lang="en", vector=matches.vector, top_k=5)


def test_a_texts_fact_checks_are_searched_once_until_the_fact_checks_change(
    encoder: Encoder,
) -> None:
    holder = _holder(encoder)
    holder.add_fact_checks(_documents(LATER_CLAIMS))
    first = holder.match(TIP, "en", 5)
    again = holder.match(TIP, "en", 5)
    assert again.fact_checks == first.fact_checks
    assert first.fact_checks[0].id == 6
    assert holder._fact_checks_for.cache_info().hits == 1

    holder.add_fact_checks([Document(8, TIP, lang="en")])  # published since
    after = holder.match(TIP, "en", 5)
    assert after.fact_checks[0].id == 8
    assert after.fact_checks[0].decision == "reply"


def test_a_detected_texts_fact_checks_are_searched_ahead_of_its_match(encoder: Encoder) -> None:
    holder = _holder(encoder)
    holder.add_fact_checks(_documents(LATER_CLAIMS))
    language = holder.detect_language(TIP, None, then_match=(TIP, 5))
    holder.detect_language("Cats can vote now in every town", None)  # no match to follow
    assert list(holder.ahead) == [(TIP, language, 5)]

    holder.look_ahead()
    assert not holder.ahead
    searched = holder._fact_checks_for.cache_info()
    matched = holder.match(TIP, language, 5)
    assert holder._fact_checks_for.cache_info().hits == searched.hits + 1
    fresh = _holder(encoder)
    fresh.add_fact_checks(_documents(LATER_CLAIMS))
    assert matched.fact_checks == fresh.match(TIP, language, 5).fact_checks
    assert matched.fact_checks[0].id == 6
