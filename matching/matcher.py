"""Hybrid matching: BM25 and sentence vectors find candidates, one calibrated score ranks them.

The score is a logistic combination of three features, fitted on CheckThat! 2021 task 2A
training pairs (docs/MATCHING.md):

- ``semantic``: cosine of the multilingual sentence vectors (carries rewordings and
  translations);
- ``query_coverage``: the IDF-weighted share of the tip's words found in the document;
- ``document_coverage``: the IDF-weighted share of the document's words found in the tip.

Being a probability-like number in [0, 1], the same threshold means the same thing for a
short tip and a long one, which raw BM25 or cosine alone do not give.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from matching.encoder import Encoder
from matching.index import LexicalIndex, VectorIndex
from matching.normalize import strip_invisible, tokenize

__all__ = [
    "CLAIM_THRESHOLDS",
    "FACT_CHECK_THRESHOLDS",
    "FEATURE_NAMES",
    "Candidate",
    "Decision",
    "Document",
    "Features",
    "Matcher",
    "Thresholds",
    "document_text",
    "query_text",
]

Decision = Literal["reply", "ask", "none"]


@dataclass(frozen=True)
class Thresholds:
    """Score at or above ``reply`` acts alone; at or above ``ask`` asks a person; else nothing."""

    reply: float
    ask: float

    def decide(self, score: float) -> Decision:
        if score >= self.reply:
            return "reply"
        return "ask" if score >= self.ask else "none"


# Calibrated on CheckThat! 2021 2A train (docs/MATCHING.md); configurable in settings.
FACT_CHECK_THRESHOLDS = Thresholds(reply=0.89, ask=0.19)
CLAIM_THRESHOLDS = Thresholds(reply=0.80, ask=0.19)

# Logistic weights (bench/calibrate_matcher.py): bias, then one per FEATURE_NAMES; and bias
# and semantic weight of the model used alongside it when the two texts' languages differ.
WEIGHTS = (-13.355, 10.648, 10.737, 11.576)
SEMANTIC_WEIGHTS = (-15.212, 21.641)
CANDIDATES_PER_INDEX = 50


@dataclass
class Document:
    """Something to match against: a fact-check (text = claim reviewed, title = headline)."""

    id: Hashable
    text: str
    title: str = ""
    lang: str | None = None
    vector: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Candidate:
    """A document for a query, with its calibrated score and the decision it implies."""

    id: Hashable
    score: float
    lexical: float
    semantic: float
    decision: Decision


_TWEET_NOISE = re.compile(
    r"pic\.twitter\.com/\S+|https?://t\.co/\S+|"
    r"—\s*[^—\n]{0,80}\(@\w+\)\s*\w+ \d{1,2}, \d{4}\s*$",
    re.IGNORECASE,
)
_TAG = re.compile(r"(?<!\w)[#@](\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)")


def query_text(text: str) -> str:
    """A tip as it is matched: link shorteners and embed trailers removed, #HashTags split.

    ``#AustralianFires`` becomes "Australian Fires", so that both indexes see the words.
    """
    text = _TWEET_NOISE.sub(" ", strip_invisible(text))
    text = _TAG.sub(lambda m: _CAMEL.sub(" ", m.group(1)), text)
    return " ".join(text.split())


@lru_cache(maxsize=1024)
def _query_tokens(text: str) -> tuple[str, ...]:
    """A tip's words as both indexes read them: a tip is searched in each, often in a row."""
    return tuple(tokenize(query_text(text)))


def document_text(doc: Document) -> str:
    """The text a document is indexed and encoded from (its stored vector must match).

    Cleaned like a tip, so that a claim's vector (its first tip's) is the same either way.
    """
    return query_text(doc.text if not doc.title else f"{doc.title}. {doc.text}")


def calibrated_scores(
    semantic: np.ndarray,
    query_coverage: np.ndarray,
    document_coverage: np.ndarray,
    cross_language: np.ndarray,
) -> np.ndarray:
    """The probability that each document is the one, as calibrated, for arrays of features.

    A translation shares few words with its original, so across languages the coverage
    features would count against a true match; there the semantic model (calibrated the
    same way on the cosine alone) may vouch for it instead.
    """
    bias, *weights = WEIGHTS
    combined = sum(
        w * np.asarray(v, dtype=np.float64)
        for w, v in zip(weights, (semantic, query_coverage, document_coverage), strict=True)
    )
    score = _sigmoid(bias + combined)
    semantic_bias, semantic_weight = SEMANTIC_WEIGHTS
    alone = _sigmoid(semantic_bias + semantic_weight * np.asarray(semantic, dtype=np.float64))
    return np.where(cross_language, np.maximum(score, alone), score)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


FEATURE_NAMES = ("semantic", "query_coverage", "document_coverage")


@dataclass(frozen=True)
class Features:
    """What the calibrated score is computed from, for one query and one candidate.

    Every feature describes the pair alone, never the rest of the archive: a second debunk of
    the same claim, or a small archive, must not change how sure the bot is of the first.
    """

    semantic: float  # cosine of the sentence vectors (negatives as 0)
    query_coverage: float  # IDF-weighted share of the tip's words found in the document
    document_coverage: float  # IDF-weighted share of the document's words found in the tip
    cross_language: bool = False  # both languages known, and different

    def values(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in FEATURE_NAMES)

    def score(self) -> float:
        """The probability that this document is the one (:func:`calibrated_scores`)."""
        columns = [np.array([value]) for value in (*self.values(), self.cross_language)]
        return float(calibrated_scores(*columns)[0])


def _cross_language(query_lang: str | None, doc_lang: str | None) -> bool:
    known = {query_lang, doc_lang} - {None, "", "und"}
    return len(known) == 2


class Matcher:
    """Documents indexed lexically and semantically; ``search`` ranks them for a query."""

    def __init__(
        self, encoder: Encoder, thresholds: Thresholds, *, dtype: type = np.float32
    ) -> None:
        """``dtype=np.int8`` keeps the vectors in a quarter of the memory (docs/MATCHING.md)."""
        self.encoder = encoder
        self.thresholds = thresholds
        self._lexical = LexicalIndex()
        self._vectors = VectorIndex(encoder.dim, dtype=dtype)
        self._langs: dict[Hashable, str | None] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(texts))

    def add(self, docs: Sequence[Document]) -> None:
        """Index documents, encoding those without a stored vector; an existing id is replaced."""
        missing = [doc for doc in docs if doc.vector is None or len(doc.vector) != self.encoder.dim]
        if missing:
            for doc, vector in zip(
                missing, self.embed([document_text(d) for d in missing]), strict=True
            ):
                doc.vector = vector
        for doc in docs:
            self._lexical.add(doc.id, tokenize(document_text(doc)))
            self._langs[doc.id] = doc.lang
        if docs:
            self._vectors.add([doc.id for doc in docs], np.stack([doc.vector for doc in docs]))

    def remove(self, doc_id: Hashable) -> None:
        self._langs.pop(doc_id, None)
        self._lexical.remove(doc_id)
        self._vectors.remove(doc_id)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of a tip, computed from the same cleaned text the lexical side sees."""
        return self.embed([query_text(text)])[0]

    def _candidates(
        self, text: str, vector: np.ndarray | None, lang: str | None
    ) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidate documents for a query, and their features as arrays, one entry each.

        Candidates are the union of the best of each index, so a translation (no shared
        words) and a near-copy in a language the encoder does not know both get a chance.
        """
        query_vector = vector if vector is not None else self.embed_query(text)
        tokens = _query_tokens(text)
        ids = {doc_id for doc_id, _ in self._lexical.search(tokens, CANDIDATES_PER_INDEX)}
        if np.any(query_vector):
            found = self._vectors.search(query_vector, CANDIDATES_PER_INDEX)
            ids.update(doc_id for doc_id, _ in found)
        return self._features(list(ids), tokens, query_vector, lang)

    def _features(
        self, ids: list[Hashable], tokens: Sequence[str], vector: np.ndarray, lang: str | None
    ) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        semantic = np.maximum(self._vectors.similarities(ids, vector), 0.0)
        query_coverage, document_coverage = self._lexical.overlap(tokens, ids)
        cross = np.array([_cross_language(lang, self._langs.get(doc_id)) for doc_id in ids])
        return ids, semantic, query_coverage, document_coverage, cross

    def features(
        self, text: str, vector: np.ndarray | None = None, *, lang: str | None = None
    ) -> dict[Hashable, Features]:
        """Candidate documents for a query with their features (for calibration)."""
        ids, *columns = self._candidates(text, vector, lang)
        return {
            doc_id: Features(*(column[n].item() for column in columns))
            for n, doc_id in enumerate(ids)
        }

    def search(
        self,
        text: str,
        *,
        lang: str | None = None,
        vector: np.ndarray | None = None,
        top_k: int = 10,
    ) -> list[Candidate]:
        """The best documents for a query, best first, each with its decision."""
        if not len(self):
            return []
        return self._ranked(*self._candidates(text, vector, lang), top_k=top_k)

    def score(
        self, text: str, ids: Sequence[Hashable], *, lang: str | None, vector: np.ndarray
    ) -> list[Candidate]:
        """These documents (those indexed) for a query, best first, each with its decision:
        the scores :meth:`search` would give them, without looking for other candidates."""
        ids = [doc_id for doc_id in ids if doc_id in self]
        if not ids:
            return []
        columns = self._features(ids, _query_tokens(text), vector, lang)
        return self._ranked(*columns, top_k=len(ids))

    def _ranked(
        self,
        ids: list[Hashable],
        semantic: np.ndarray,
        query_coverage: np.ndarray,
        document_coverage: np.ndarray,
        cross: np.ndarray,
        *,
        top_k: int,
    ) -> list[Candidate]:
        scores = calibrated_scores(semantic, query_coverage, document_coverage, cross).tolist()
        # Scored as arrays, made into candidates only for the best: a query has a hundred.
        best = sorted(range(len(ids)), key=lambda n: (-scores[n], str(ids[n])))[:top_k]
        return [
            Candidate(
                ids[n],
                scores[n],
                float(query_coverage[n] + document_coverage[n]) / 2,
                float(semantic[n]),
                self.thresholds.decide(scores[n]),
            )
            for n in best
        ]
