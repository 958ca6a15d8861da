"""Hostile or broken text: every entry point gives a defined result instead of an exception."""

from __future__ import annotations

import random

import pytest
from multilingual_claims import FACT_CHECKS

from matching import (
    FACT_CHECK_THRESHOLDS,
    UNDETERMINED,
    Document,
    Encoder,
    Matcher,
    content_hash,
    detect_language,
    normalize_text,
    simhash,
    tokenize,
)

_random = random.Random(20240611)
RANDOM_BYTES = bytes(_random.randrange(256) for _ in range(4000)).decode("utf-8", "replace")
BIG = ("Banks close on Monday, withdraw your money before it is too late. " * 1600)[:100_000]
HOMOGLYPHS = "Вanks сlоsе оn Моndау, withdrаw yоur mоnеу"  # Cyrillic letters in English words
MIXED = "Banks закроются on Monday, اسحبوا money 銀行 Τράπεζες"


@pytest.fixture(scope="module")
def archive(encoder: Encoder) -> Matcher:
    matcher = Matcher(encoder, FACT_CHECK_THRESHOLDS)
    matcher.add([Document(c.id, c.text, title=c.title, lang=c.lang) for c in FACT_CHECKS])
    return matcher


@pytest.mark.parametrize("text", ["", "   \n\t ", "😀🔥🙏🏽👍🏻", "\u200b\u200d\ufeff"])
def test_texts_without_words_normalise_to_no_tokens_and_no_language(text: str) -> None:
    assert tokenize(text) == []
    assert detect_language(text) == UNDETERMINED
    assert simhash(tokenize(text)) == 0
    assert normalize_text(text) == normalize_text(text).strip()


@pytest.mark.parametrize("text", ["", "😀🔥🙏🏽👍🏻"])
def test_texts_without_words_match_nothing(archive: Matcher, text: str) -> None:
    assert {c.decision for c in archive.search(text)} <= {"none"}


def test_100_kb_of_text_is_handled_whole_by_the_lexical_side_and_matches(
    archive: Matcher,
) -> None:
    assert len(tokenize(BIG)) > 15_000
    assert detect_language(BIG) == "en"  # only the first 2,000 characters are read
    top = archive.search(BIG, top_k=1)[0]
    assert top.id == "banks-en"
    assert top.decision != "none"


def test_random_bytes_decoded_with_replacement_are_handled(archive: Matcher) -> None:
    assert "\ufffd" in RANDOM_BYTES
    normalize_text(RANDOM_BYTES).encode("utf-8")  # storable as it is
    content_hash(normalize_text(RANDOM_BYTES))
    # langdetect still names a language for such noise (measured: "bn"); no exception.
    assert isinstance(detect_language(RANDOM_BYTES), str)
    assert {c.decision for c in archive.search(RANDOM_BYTES)} == {"none"}


def test_mixed_scripts_keep_every_scripts_words(archive: Matcher) -> None:
    assert tokenize(MIXED) == [
        "banks",
        "закроются",
        "on",
        "monday",
        "اسحبوا",
        "money",
        "銀行",
        "τράπεζεσ",
    ]
    assert archive.search(MIXED, top_k=1)[0].id == "banks-en"


def test_homoglyph_tricks_are_undone_before_matching(archive: Matcher) -> None:
    plain = "Banks close on Monday, withdraw your money"
    assert normalize_text(HOMOGLYPHS) == normalize_text(plain)
    assert tokenize(HOMOGLYPHS) == tokenize(plain)
    assert archive.search(HOMOGLYPHS, top_k=1)[0].id == "banks-en"


def test_nul_characters_do_not_split_or_join_words(archive: Matcher) -> None:
    text = "Banks\x00 close\x00 on Monday\x00, withdraw\x00 your money"
    assert tokenize(text) == tokenize("Banks close on Monday, withdraw your money")
    # Dropped like any invisible control, so the text can be stored (PostgreSQL refuses NUL).
    assert "\x00" not in normalize_text(text)
    assert detect_language(text, "de") in ("en", "de")
    assert archive.search(text, top_k=1)[0].id == "banks-en"


LONE_SURROGATES = "Banks close \ud83d on Monday \udfff"  # json.loads('"\\ud83d"') gives one


def test_lone_surrogates_are_dropped_by_tokenize_and_ignored_by_detection() -> None:
    assert tokenize(LONE_SURROGATES) == ["banks", "close", "on", "monday"]
    assert detect_language(LONE_SURROGATES, "en") == "en"


def test_lone_surrogates_get_a_hash_and_a_search_result(archive: Matcher) -> None:
    content_hash(normalize_text(LONE_SURROGATES))
    assert archive.search(LONE_SURROGATES, top_k=1)[0].id == "banks-en"
