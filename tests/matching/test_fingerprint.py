"""Fingerprints: copies that differ only in what we normalise agree; edits stay close."""

from __future__ import annotations

import hashlib
from random import Random

import pytest

from matching import content_hash, hamming, normalize_text, simhash, tokenize

RUMOUR = (
    "Attention! All banks will close on Monday because the government has frozen every "
    "account. Withdraw your money today, before the cash machines are switched off. "
    "Share this with everyone you know."
)


@pytest.mark.parametrize(
    "copy",
    [
        RUMOUR.upper(),
        "Forwarded from Truth 24\n" + RUMOUR,
        RUMOUR.replace(" ", "  \u200b"),
        RUMOUR.replace("a", "\u0430"),  # Cyrillic а for Latin a
        RUMOUR.replace("banks", "ｂａｎｋｓ"),
    ],
)
def test_content_hash_is_equal_for_copies_differing_only_in_normalisation(copy: str) -> None:
    assert content_hash(normalize_text(copy)) == content_hash(normalize_text(RUMOUR))


def test_content_hash_changes_with_one_word() -> None:
    edited = RUMOUR.replace("Monday", "Tuesday")
    assert content_hash(normalize_text(edited)) != content_hash(normalize_text(RUMOUR))


def test_content_hash_is_hex_sha256() -> None:
    digest = content_hash("banks close")
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_simhash_of_a_lightly_edited_text_is_near() -> None:
    edited = RUMOUR.replace("Attention!", "URGENT!!").replace("everyone", "all")
    assert hamming(simhash(tokenize(RUMOUR)), simhash(tokenize(edited))) <= 12


def test_simhash_of_an_unrelated_text_is_far() -> None:
    other = (
        "The city council approved a new budget for public libraries on Thursday, adding "
        "weekend opening hours and two mobile libraries for the villages around the town."
    )
    assert hamming(simhash(tokenize(RUMOUR)), simhash(tokenize(other))) >= 20


def test_simhash_is_a_signed_64_bit_integer() -> None:
    values = [simhash(tokenize(text)) for text in (RUMOUR, "a b", "x y z", "")]
    assert all(-(1 << 63) <= value < (1 << 63) for value in values)
    assert simhash([]) == 0


def _simhash_bit_by_bit(tokens: list[str]) -> int:
    """SimHash as its definition reads, one digest and one bit at a time: the values stored
    for every tip since the first release, which a faster simhash must keep."""
    shingles = [" ".join(tokens[i : i + 2]) for i in range(max(len(tokens) - 1, 1))]
    votes = [0] * 64
    for shingle in filter(None, shingles):
        digest = int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            votes[bit] += 1 if digest >> bit & 1 else -1
    value = sum(1 << bit for bit in range(64) if votes[bit] > 0)
    return value - (1 << 64) if value >= 1 << 63 else value


def test_simhash_is_its_bit_by_bit_definition() -> None:
    words = tokenize(RUMOUR + " Ab Juli wird das Leitungswasser rationiert! Не пейте воду 5G")
    random = Random(7)
    texts = [[], [""], ["one"], ["a", "b"], words, words[::-1], words * 3]
    texts += [random.sample(words, random.randint(2, len(words))) for _ in range(200)]
    values = [simhash(tokens) for tokens in texts]
    assert values == [_simhash_bit_by_bit(tokens) for tokens in texts]
    assert min(values) < 0 < max(values)  # the sign bit both ways


def test_hamming_counts_differing_bits_across_the_sign_bit() -> None:
    assert hamming(0, 0) == 0
    assert hamming(-1, 0) == 64
    assert hamming(0b1011, 0b0001) == 2
