"""Language detection: deterministic, and honest about short texts ("und", not a guess)."""

from __future__ import annotations

import re
import threading
from functools import cache, lru_cache

from langdetect import DetectorFactory
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import LangDetectException

__all__ = ["MIN_LETTERS", "SAMPLE_CHARS", "UNDETERMINED", "detect_language"]

UNDETERMINED = "und"
# Fewer letters than this and langdetect guesses; we ask the sender's app instead.
MIN_LETTERS = 20
# Only the start of a text is read: the rest seldom changes the answer, and costs.
SAMPLE_CHARS = 2000
MIN_PROBABILITY = 0.80
_lock = threading.Lock()
_UKRAINIAN_LETTERS = re.compile("[іїєґІЇЄҐ]")


@cache
def _factory() -> DetectorFactory:
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


def _primary(code: str | None) -> str | None:
    if not code:
        return None
    primary = code.replace("_", "-").split("-")[0].strip().lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


@lru_cache(maxsize=4096)
def _probabilities(sample: str) -> dict[str, float]:
    """langdetect's candidates; cached, as forwards repeat word for word and it is seeded."""
    with _lock:  # the factory's seeded random state is shared between detectors
        detector = _factory().create()
        detector.append(sample)
        try:
            return {found.lang: found.prob for found in detector.get_probabilities()}
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
