"""Publishers' verdicts, in any of our languages, mapped to the tip line's canonical ratings.

Publishers rate in their own words ("Falsch", "Pants on Fire", "Маніпуляція") or on a numeric
scale (``ratingValue`` 1 of 5). The bot replies with one canonical rating in the sender's
language, so every verdict is folded onto :class:`storage.models.Rating`; the publisher's own
words stay in ``rating_text``. Anything we cannot place confidently becomes ``other`` rather
than a guess: a wrong "true" is worse than no rating.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from storage.models import Rating

__all__ = ["fold", "normalise_rating"]

# Letters NFKD leaves whole (Polish ł) and Arabic spelling variants desks use interchangeably.
_LETTER_FOLDS = str.maketrans(
    {"ł": "l", "ı": "i", "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ـ": None}
)
_NON_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Casefold, strip diacritics and punctuation, collapse spaces: "Größtenteils FALSCH!" ->
    "grosstenteils falsch" so lookups ignore how a desk typed its verdict."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_LETTER_FOLDS))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", text).split())


# Whole verdicts that keyword rules would misread or miss (checked first, after folding).
_PHRASES: dict[str, Rating] = {
    "pants on fire": Rating.FALSE,
    "four pinocchios": Rating.FALSE,
    "three pinocchios": Rating.MOSTLY_FALSE,
    "two pinocchios": Rating.MIXED,
    "one pinocchio": Rating.MOSTLY_TRUE,
    "geppetto checkmark": Rating.TRUE,
    "half true": Rating.MIXED,
    "half truth": Rating.MIXED,
    "mixture": Rating.MIXED,
    "mixed": Rating.MIXED,
    "miscaptioned": Rating.MISLEADING,
    "misattributed": Rating.FALSE,
    "correct attribution": Rating.TRUE,
    "outdated": Rating.MISSING_CONTEXT,
    "legend": Rating.FALSE,
    "labeled satire": Rating.SATIRE,
    "originated as satire": Rating.SATIRE,
    "research in progress": Rating.UNPROVEN,
    "zum teil falsch": Rating.MIXED,
    "zum teil richtig": Rating.MIXED,
    "halb wahr": Rating.MIXED,
    "verdad a medias": Rating.MIXED,
    "a moitie vrai": Rating.MIXED,
    "напівправда": Rating.MIXED,
    "полуправда": Rating.MIXED,
    "meia verdade": Rating.MIXED,
    "mezza verita": Rating.MIXED,
    "polprawda": Rating.MIXED,
    "yari dogru": Rating.MIXED,
    "nicht belegt": Rating.UNPROVEN,
    "nicht belegbar": Rating.UNPROVEN,
}

# Keyword rules, most specific first: "größtenteils falsch" must not stop at "falsch".
# Each keyword is a run of whole folded words.
# fmt: off
_RULES: tuple[tuple[Rating, tuple[str, ...]], ...] = (
    (
        Rating.SATIRE,
        (
            "satire", "satirical", "parody", "satira", "satirique", "parodie", "parodia", "сатира",
            "пародия", "пародія", "hiciv", "mizah", "ساخر", "سخريه", "ساخره", "satyra",
        ),
    ),
    (
        Rating.MISSING_CONTEXT,
        (
            "missing context", "lacks context", "needs context", "out of context",
            "fehlender kontext", "kontext fehlt", "ohne kontext", "aus dem zusammenhang",
            "falta contexto", "falta de contexto", "sin contexto", "fuera de contexto",
            "manque de contexte", "hors contexte", "sorti de son contexte", "sans contexte",
            "вне контекста", "без контекста", "недостаточно контекста", "без контексту",
            "поза контекстом", "бракує контексту", "eksik baglam", "baglamindan koparilmis",
            "baglam eksik", "سياق ناقص", "خارج السياق", "يفتقر الى السياق", "ينقصه السياق",
            "sem contexto", "fora de contexto", "falta de contexto", "senza contesto",
            "manca il contesto", "fuori contesto", "decontestualizzato", "brak kontekstu",
            "bez kontekstu", "wyrwane z kontekstu",
        ),
    ),
    (
        Rating.MOSTLY_FALSE,
        (
            "mostly false", "largely false", "grosstenteils falsch", "uberwiegend falsch",
            "weitgehend falsch", "mayormente falso", "en su mayoria falso", "principalement faux",
            "plutot faux", "в основном неправда", "в основном ложь", "скорее неправда",
            "скорее ложь", "переважно неправда", "здебільшого неправда", "buyuk olcude yanlis",
            "cogunlukla yanlis", "خطا في معظمه", "غير صحيح في معظمه", "majoritariamente falso",
            "em grande parte falso", "per lo piu falso", "prevalentemente falso",
            "in gran parte falso", "w wiekszosci falsz", "przewaznie falsz", "raczej falsz",
        ),
    ),
    (
        Rating.MOSTLY_TRUE,
        (
            "mostly true", "largely true", "mostly correct", "grosstenteils richtig",
            "grosstenteils wahr", "uberwiegend richtig", "uberwiegend wahr", "weitgehend richtig",
            "mayormente verdadero", "mayormente cierto", "principalement vrai", "plutot vrai",
            "в основном правда", "скорее правда", "переважно правда", "здебільшого правда",
            "buyuk olcude dogru", "cogunlukla dogru", "صحيح في معظمه",
            "majoritariamente verdadeiro", "em grande parte verdadeiro", "per lo piu vero",
            "in gran parte vero", "w wiekszosci prawda", "przewaznie prawda", "raczej prawda",
        ),
    ),
    (
        Rating.MIXED,
        (
            "half true", "partly false", "partly true", "partially false", "partially true",
            "teilweise falsch", "teilweise richtig", "teilweise wahr", "teils falsch",
            "teils richtig", "parcialmente falso", "parcialmente verdadero", "parcialmente cierto",
            "parcialmente verdadeiro", "en partie faux", "partiellement faux",
            "partiellement vrai", "en partie vrai", "частично правда", "частично неправда",
            "частично ложь", "частично верно", "частково правда", "частково неправда",
            "kismen yanlis", "kismen dogru", "صحيح جزئيا", "نصف صحيح", "خطا جزئيا",
            "parzialmente falso", "parzialmente vero", "in parte falso", "in parte vero",
            "czesciowo falsz", "czesciowo prawda", "czesciowa prawda",
        ),
    ),
    (
        Rating.MISLEADING,
        (
            "misleading", "distorts", "exaggerated", "exaggeration", "cherry picks", "manipulated",
            "irrefuhrend", "manipulativ", "manipuliert", "verzerrt", "ubertrieben", "enganoso",
            "enganosa", "exagerado", "distorsionado", "trompeur", "trompeuse", "manipule",
            "exagere", "вводит в заблуждение", "вводящее в заблуждение", "манипуляция",
            "маніпуляція", "маніпулятивно", "перебільшення", "преувеличение", "вводить в оману",
            "оманливо", "yaniltici", "carpitma", "manipulasyon", "مضلل", "مضلله", "تلاعب",
            "fuorviante", "ingannevole", "manipolato", "manipulacja", "zmanipulowane",
            "wprowadzajace w blad", "distorcido",
        ),
    ),
    (
        Rating.UNPROVEN,
        (
            "unproven", "unverified", "unsupported", "unsubstantiated", "no evidence",
            "unbewiesen", "unbelegt", "nicht bewiesen", "unklar", "sin pruebas", "no verificable",
            "inverificable", "no demostrado", "sin evidencia", "non prouve", "non verifie",
            "inverifiable", "sans preuve", "не доказано", "недоказано", "не подтверждено",
            "неподтверждено", "не підтверджено", "недоведено", "не доведено", "kanitlanmamis",
            "dogrulanamadi", "belirsiz", "kanitsiz", "غير مؤكد", "غير مثبت", "لا دليل", "بلا دليل",
            "sem provas", "nao comprovado", "inconclusivo", "sem evidencias", "non provato",
            "non dimostrato", "non verificabile", "niepotwierdzone", "nieudowodnione",
            "brak dowodow",
        ),
    ),
    (
        Rating.FALSE,
        (
            "false", "fake", "hoax", "fabricated", "incorrect", "wrong", "untrue", "not true",
            "scam", "altered", "doctored", "baseless", "falsch", "unwahr", "erfunden", "gefalscht",
            "nicht richtig", "nicht wahr", "stimmt nicht", "falso", "falsa", "bulo", "fraude",
            "faux", "fausse", "infox", "intox", "неправда", "ложь", "фейк", "не правда", "неверно",
            "не соответствует", "брехня", "фальшивка", "не відповідає", "yanlis", "sahte",
            "asilsiz", "uydurma", "gercek disi", "dogru degil", "كاذب", "زائف", "مزيف", "خطا",
            "خاطئ", "غير صحيح", "ملفق", "مفبرك", "fake news", "bufala", "falsz", "falszywe",
            "falszywy", "nieprawda", "nao e verdade",
        ),
    ),
    (
        Rating.TRUE,
        (
            "true", "correct", "accurate", "richtig", "wahr", "stimmt", "zutreffend", "verdadero",
            "cierto", "verdad", "correcto", "vrai", "exact", "правда", "верно", "достоверно",
            "вірно", "достовірно", "dogru", "صحيح", "verdadeiro", "vero", "corretto", "prawda",
            "prawdziwe",
        ),
    ),
)
# fmt: on

# A negation up to two words before a keyword flips "not true" to false and makes
# "not false" unusable.
_NEGATIONS = frozenset(
    {"not", "no", "nicht", "kein", "keine", "non", "pas", "ne", "не", "ні", "nao", "nie", "ليس"}
)
_POSTPOSED_NEGATIONS = frozenset({"degil"})  # Turkish: "doğru değil" = not true

_FOLDED_PHRASES = {fold(phrase): rating for phrase, rating in _PHRASES.items()}
_FOLDED_RULES = tuple(
    (rating, tuple(tuple(fold(keyword).split()) for keyword in keywords))
    for rating, keywords in _RULES
)


def _find(words: list[str], keyword: tuple[str, ...]) -> list[int]:
    size = len(keyword)
    return [
        i
        for i, word in enumerate(words)
        if word == keyword[0] and tuple(words[i : i + size]) == keyword
    ]


def _negated(words: list[str], start: int, size: int) -> bool:
    before = words[max(0, start - 2) : start]
    after = words[start + size : start + size + 1]
    return bool(_NEGATIONS.intersection(before) or _POSTPOSED_NEGATIONS.intersection(after))


@lru_cache(maxsize=4096)  # an import repeats a handful of verdicts thousands of times
def _rating_from_text(text: str) -> Rating | None:
    folded = fold(text)
    if not folded:
        return None
    if folded in _FOLDED_PHRASES:
        return _FOLDED_PHRASES[folded]
    words = folded.split()
    for rating, keywords in _FOLDED_RULES:
        for keyword in keywords:
            for start in _find(words, keyword):
                if not _negated(words, start, len(keyword)):
                    return rating
                if rating is Rating.TRUE:
                    return Rating.FALSE
    return None


def _rating_from_scale(value: float, best: float | None, worst: float | None) -> Rating | None:
    # schema.org's Rating defaults: bestRating 5, worstRating 1.
    best = 5.0 if best is None else best
    worst = 1.0 if worst is None else worst
    if best <= worst or not worst <= value <= best:
        return None
    position = (value - worst) / (best - worst)
    for ceiling, rating in (
        (0.125, Rating.FALSE),
        (0.375, Rating.MOSTLY_FALSE),
        (0.625, Rating.MIXED),
        (0.875, Rating.MOSTLY_TRUE),
    ):
        if position <= ceiling:
            return rating
    return Rating.TRUE


def normalise_rating(
    text: str | None,
    value: float | None = None,
    best: float | None = None,
    worst: float | None = None,
) -> str:
    """The canonical rating for a publisher's verdict: words first, then the numeric scale.

    Words win because publishers often put a placeholder ``ratingValue`` beside a precise
    textual verdict. Unknown verdicts give ``"other"``; callers keep the original text.
    """
    rating = _rating_from_text(text) if text else None
    if rating is None and value is not None:
        rating = _rating_from_scale(value, best, worst)
    return str(rating or Rating.OTHER)
