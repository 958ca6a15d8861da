"""Language detection: deterministic, and honest about short texts ("und", not a guess)."""

from __future__ import annotations

import json
import os
import re
from array import array
from functools import cache, lru_cache

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import ErrorCode, LangDetectException

__all__ = ["MIN_LETTERS", "SAMPLE_CHARS", "UNDETERMINED", "detect_language"]

UNDETERMINED = "und"
# Fewer letters than this and langdetect guesses; we ask the sender's app instead.
MIN_LETTERS = 20
# Only the start of a text is read: the rest seldom changes the answer, and costs.
SAMPLE_CHARS = 2000
MIN_PROBABILITY = 0.80
_UKRAINIAN_LETTERS = re.compile("[іїєґІЇЄҐ]")


class _Profiles:
    """langdetect's n-gram profiles, each n-gram's languages and probabilities in flat arrays.

    langdetect keeps a list of 55 floats per n-gram, 96 % of them zero: 59 MB of the matching
    process, where these take 26 MB (docs/BENCHMARKS.md, issue 10). They are read as
    ``DetectorFactory.load_profile`` reads them, in the same order, so that a detection gives
    langdetect's own probabilities, bit for bit.
    """

    def __init__(self, directory: str) -> None:
        self.langlist: list[str] = []
        self.seed = 0  # as DetectorFactory.set_seed(0): the same text, the same answer
        # What langdetect's Detector reads as its profiles: here, each n-gram's row.
        self.word_lang_prob_map: dict[str, int] = {}
        rows, languages, probabilities = array("q"), array("q"), array("d")
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as file:
                profile = json.load(file)
            language = len(self.langlist)
            self.langlist.append(profile["name"])
            for ngram, count in profile["freq"].items():
                row = self.word_lang_prob_map.setdefault(ngram, len(self.word_lang_prob_map))
                if 1 <= len(ngram) <= 3:
                    rows.append(row)
                    languages.append(language)
                    probabilities.append(1.0 * count / profile["n_words"][len(ngram) - 1])
        row_of = np.frombuffer(rows, dtype=np.int64)
        by_row = np.argsort(row_of, kind="stable")
        per_row = np.bincount(row_of, minlength=len(self.word_lang_prob_map))
        # Row r's entries are [bounds[r], bounds[r + 1]) of the two arrays below.
        self.bounds = np.concatenate(([0], np.cumsum(per_row)))
        self.languages = np.frombuffer(languages, dtype=np.int64)[by_row]
        self.probabilities = np.frombuffer(probabilities, dtype=np.float64)[by_row]


class _Detector(Detector):  # type: ignore[misc]
    """langdetect's detector reading :class:`_Profiles`: the same random walk, and the same
    arithmetic on the same numbers.

    At each step langdetect multiplies every language's probability by ``weight + p``, ``p``
    being the drawn n-gram's probability in that language. Here a trial has those factors
    ready, a row for each distinct n-gram of the text, so that a step multiplies by a row:
    a new rumour's detection took 0.9-1.0 ms instead of 1.5-3.3 (docs/BENCHMARKS.md).
    """

    def __init__(self, profiles: _Profiles) -> None:
        super().__init__(profiles)
        self._profiles = profiles

    def _detect_block(self) -> None:
        self.cleaning_text()
        ngrams = self._extract_ngrams()
        if not ngrams:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        probabilities, rows = self._rows_of(ngrams)
        languages = len(self.langlist)
        langprob = np.zeros(languages)
        self.random.seed(self.seed)
        for _ in range(self.n_trial):
            prob = np.full(languages, 1.0 / languages)
            alpha = self.alpha + self.random.gauss(0.0, 1.0) * self.ALPHA_WIDTH
            factors = alpha / self.BASE_FREQ + probabilities
            i = 0
            while True:
                prob *= factors[self.random.choice(rows)]  # as langdetect draws an n-gram
                if i % 5 == 0:
                    prob /= sum(prob.tolist())  # summed in langdetect's order, as it rounds
                    if prob.max() > self.CONV_THRESHOLD or i >= self.ITERATION_LIMIT:
                        break
                i += 1
            langprob += prob / self.n_trial
        self.langprob = langprob.tolist()

    def _rows_of(self, ngrams: list[str]) -> tuple[np.ndarray, list[int]]:
        """Each distinct n-gram's probabilities in every language, and each n-gram's row."""
        row_of = dict.fromkeys(ngrams, 0)
        probabilities = np.zeros((len(row_of), len(self.langlist)))
        for row, ngram in enumerate(row_of):
            row_of[ngram] = row
            entry = self.word_lang_prob_map[ngram]
            start, stop = self._profiles.bounds[entry], self._profiles.bounds[entry + 1]
            languages = self._profiles.languages[start:stop]
            probabilities[row, languages] = self._profiles.probabilities[start:stop]
        return probabilities, [row_of[ngram] for ngram in ngrams]


@cache
def _profiles() -> _Profiles:
    return _Profiles(PROFILES_DIRECTORY)


def _primary(code: str | None) -> str | None:
    if not code:
        return None
    primary = code.replace("_", "-").split("-")[0].strip().lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


@lru_cache(maxsize=4096)
def _probabilities(sample: str) -> dict[str, float]:
    """langdetect's candidates; cached, as forwards repeat word for word and it is seeded."""
    detector = _Detector(_profiles())
    detector.append(sample)
    try:
        return {found.lang: float(found.prob) for found in detector.get_probabilities()}
    except LangDetectException:
        return {}


def detect_language(text: str, fallback: str | None = None) -> str:
    """ISO 639-1 code of the text, else the fallback's primary subtag, else "und".

    langdetect is unsure on short texts: below a confident answer, the sender's app language
    is a better guess than langdetect's. Ukrainian-only letters settle Ukrainian against Russian and
    Bulgarian, which langdetect confuses.
    """
    fallback_code = _primary(fallback) or UNDETERMINED
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return fallback_code
    candidates = _probabilities(sample)
    if not candidates:
        return fallback_code
    best = max(candidates, key=candidates.__getitem__)
    if best in ("ru", "bg", "mk") and _UKRAINIAN_LETTERS.search(sample):
        return "uk"
    if candidates[best] >= MIN_PROBABILITY:
        return _primary(best) or fallback_code
    return fallback_code
