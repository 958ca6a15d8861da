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

import math
import re
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from matching.encoder import Encoder
from matching.index import LexicalIndex, VectorIndex
from matching.normalize import tokenize

__all__ = [
    "CLAIM_THRESHOLDS",
    "FACT_CHECK_THRESHOLDS",
    "Candidate",
    "Decision",
    "Document",
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
FACT_CHECK_THRESHOLDS = Thresholds(reply=0.90, ask=0.50)
CLAIM_THRESHOLDS = Thresholds(reply=0.80, ask=0.55)

# Logistic weights: bias, semantic, query coverage, document coverage (docs/MATCHING.md).
WEIGHTS = (-9.0, 8.0, 4.0, 2.0)
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


def query_text(text: str) -> str:
    """A tip as it is encoded: link shorteners and embed trailers (no meaning) removed."""
    return " ".join(_TWEET_NOISE.sub(" ", text).split())


def document_text(doc: Document) -> str:
    """The text encoded for a document: what the stored vector must be computed from."""
    return doc.text if not doc.title else f"{doc.title}. {doc.text}"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def _coverage(weights: dict[str, float], other: Collection[str]) -> float:
    total = sum(weights.values())
    return sum(w for term, w in weights.items() if term in other) / total if total else 0.0


@dataclass(frozen=True)
class Features:
    """What the calibrated score is computed from."""

    semantic: float
    query_coverage: float
    document_coverage: float

    def score(self) -> float:
        bias, semantic, query, document = WEIGHTS
        return _sigmoid(
            bias
            + semantic * self.semantic
            + query * self.query_coverage
            + document * self.document_coverage
        )


class Matcher:
    """Documents indexed lexically and semantically; ``search`` ranks them for a query."""

    def __init__(self, encoder: Encoder, thresholds: Thresholds) -> None:
        self.encoder = encoder
        self.thresholds = thresholds
        self._lexical = LexicalIndex()
        self._vectors = VectorIndex(encoder.dim)

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
        if docs:
            self._vectors.add([doc.id for doc in docs], np.stack([doc.vector for doc in docs]))

    def remove(self, doc_id: Hashable) -> None:
        self._lexical.remove(doc_id)
        self._vectors.remove(doc_id)

    def features(self, text: str, vector: np.ndarray | None = None) -> dict[Hashable, Features]:
        """Candidate documents for a query with their features (for ranking and calibration)."""
        cleaned = query_text(text)
        query_vector = vector if vector is not None else self.embed([cleaned])[0]
        tokens = tokenize(cleaned)
        ids = {doc_id for doc_id, _ in self._lexical.search(tokens, CANDIDATES_PER_INDEX)}
        if np.any(query_vector):
            found = self._vectors.search(query_vector, CANDIDATES_PER_INDEX)
            ids.update(doc_id for doc_id, _ in found)
        query_terms = set(tokens)
        query_weights = {term: self._lexical.idf(term) for term in query_terms}
        features = {}
        for doc_id in ids:
            doc_terms = self._lexical.terms(doc_id)
            doc_weights = {term: self._lexical.idf(term) for term in doc_terms}
            features[doc_id] = Features(
                semantic=max(self._vectors.similarity(doc_id, query_vector), 0.0),
                query_coverage=_coverage(query_weights, doc_terms.keys()),
                document_coverage=_coverage(doc_weights, query_terms),
            )
        return features

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
        candidates = []
        for doc_id, found in self.features(text, vector).items():
            score = found.score()
            lexical = (found.query_coverage + found.document_coverage) / 2
            decision = self.thresholds.decide(score)
            candidates.append(Candidate(doc_id, score, lexical, found.semantic, decision))
        candidates.sort(key=lambda c: (-c.score, str(c.id)))
        return candidates[:top_k]
