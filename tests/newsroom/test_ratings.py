"""Publishers' verdicts in eleven languages fold onto the tip line's canonical ratings."""

from __future__ import annotations

import pytest

from newsroom.ratings import fold, normalise_rating
from storage.models import Rating

VERDICTS = [
    # German
    ("Falsch", Rating.FALSE),
    ("FALSCH", Rating.FALSE),
    ("Irreführend", Rating.MISLEADING),
    ("irrefuhrend", Rating.MISLEADING),
    ("Größtenteils falsch", Rating.MOSTLY_FALSE),
    ("Zum Teil falsch", Rating.MIXED),
    ("Teilweise richtig", Rating.MIXED),
    ("Fehlender Kontext", Rating.MISSING_CONTEXT),
    ("Unbelegt", Rating.UNPROVEN),
    ("Richtig", Rating.TRUE),
    ("Frei erfunden", Rating.FALSE),
    ("Stimmt nicht", Rating.FALSE),
    ("Satire", Rating.SATIRE),
    # English
    ("False", Rating.FALSE),
    ("Fake", Rating.FALSE),
    ("Mostly False", Rating.MOSTLY_FALSE),
    ("Half True", Rating.MIXED),
    ("Mostly true", Rating.MOSTLY_TRUE),
    ("Pants on Fire!", Rating.FALSE),
    ("Missing context", Rating.MISSING_CONTEXT),
    ("Unproven", Rating.UNPROVEN),
    ("Misleading", Rating.MISLEADING),
    ("True", Rating.TRUE),
    ("Not true", Rating.FALSE),
    ("Labeled Satire", Rating.SATIRE),
    ("missing_context", Rating.MISSING_CONTEXT),
    # Spanish, Portuguese, Italian
    ("Engañoso", Rating.MISLEADING),
    ("Falso", Rating.FALSE),
    ("Verdadero", Rating.TRUE),
    ("No es verdad", Rating.FALSE),
    ("Sin contexto", Rating.MISSING_CONTEXT),
    ("Enganoso", Rating.MISLEADING),
    ("Meia verdade", Rating.MIXED),
    ("Fuorviante", Rating.MISLEADING),
    ("Parzialmente falso", Rating.MIXED),
    # French
    ("Faux", Rating.FALSE),
    ("Trompeur", Rating.MISLEADING),
    ("Plutôt faux", Rating.MOSTLY_FALSE),
    ("Vrai", Rating.TRUE),
    ("Pas vrai", Rating.FALSE),
    # Russian, Ukrainian
    ("Неправда", Rating.FALSE),
    ("Фейк", Rating.FALSE),
    ("Ложь", Rating.FALSE),
    ("Правда", Rating.TRUE),
    ("Маніпуляція", Rating.MISLEADING),
    ("Манипуляция", Rating.MISLEADING),
    ("Частково неправда", Rating.MIXED),
    ("Без контексту", Rating.MISSING_CONTEXT),
    ("Сатира", Rating.SATIRE),
    # Turkish
    ("Yanlış", Rating.FALSE),
    ("YANLIŞ", Rating.FALSE),
    ("Yanıltıcı", Rating.MISLEADING),
    ("Doğru", Rating.TRUE),
    ("Doğru değil", Rating.FALSE),
    ("Kısmen doğru", Rating.MIXED),
    # Arabic
    ("زائف", Rating.FALSE),
    ("خطأ", Rating.FALSE),
    ("مضلل", Rating.MISLEADING),
    ("صحيح", Rating.TRUE),
    ("غير صحيح", Rating.FALSE),
    # Polish
    ("Fałsz", Rating.FALSE),
    ("Manipulacja", Rating.MISLEADING),
    ("Prawda", Rating.TRUE),
    # Negated "false" is no verdict we can use, and nonsense stays "other".
    ("not false", Rating.OTHER),
    ("Nicht falsch", Rating.OTHER),
    ("Yanlış değil", Rating.OTHER),
    ("Kommt darauf an", Rating.OTHER),
    ("", Rating.OTHER),
]


@pytest.mark.parametrize(("text", "expected"), VERDICTS)
def test_textual_verdicts_map_to_canonical_ratings(text: str, expected: Rating) -> None:
    assert normalise_rating(text) == expected


@pytest.mark.parametrize(
    ("value", "best", "worst", "expected"),
    [
        (1, 5, 1, Rating.FALSE),
        (2, 5, 1, Rating.MOSTLY_FALSE),
        (3, 5, 1, Rating.MIXED),
        (4, 5, 1, Rating.MOSTLY_TRUE),
        (5, 5, 1, Rating.TRUE),
        (1, None, None, Rating.FALSE),  # schema.org defaults: 1 (worst) to 5 (best)
        (0, 10, 0, Rating.FALSE),
        (10, 10, 0, Rating.TRUE),
        (-1, 5, 1, Rating.OTHER),  # out of the scale ("no rating" placeholders)
        (3, 1, 5, Rating.OTHER),  # an inverted scale is not guessed at
    ],
)
def test_numeric_rating_is_read_relative_to_its_scale(
    value: float, best: float | None, worst: float | None, expected: Rating
) -> None:
    assert normalise_rating(None, value, best, worst) == expected


def test_words_win_over_the_number_and_the_number_fills_in_unknown_words() -> None:
    assert normalise_rating("Irreführend", 1, 5, 1) == Rating.MISLEADING
    assert normalise_rating("Unsere Einschätzung", 1, 5, 1) == Rating.FALSE


def test_fold_ignores_case_diacritics_and_punctuation() -> None:
    assert fold("  Größtenteils   FALSCH! ") == "grosstenteils falsch"
    assert fold("İddia") == fold("iddia")
    assert fold("Fałsz") == "falsz"
