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
FACT_CHECK_THRESHOLDS = Thresholds(reply=0.87, ask=0.17)
CLAIM_THRESHOLDS = Thresholds(reply=0.80, ask=0.55)

# Logistic weights: bias, then one per FEATURE_NAMES (bench/calibrate_matcher.py).
WEIGHTS = (-7.445, -0.840, 22.744, 4.178, 5.107, 6.352)
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
    text = _TWEET_NOISE.sub(" ", text)
    text = _TAG.sub(lambda m: _CAMEL.sub(" ", m.group(1)), text)
    return " ".join(text.split())


def document_text(doc: Document) -> str:
    """The text a document is indexed and encoded from (its stored vector must match).

    Cleaned like a tip, so that a claim's vector (its first tip's) is the same either way.
    """
    return query_text(doc.text if not doc.title else f"{doc.title}. {doc.text}")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def _coverage(weights: dict[str, float], other: Collection[str]) -> float:
    total = sum(weights.values())
    return sum(w for term, w in weights.items() if term in other) / total if total else 0.0


def _margins(values: dict[Hashable, float]) -> dict[Hashable, float]:
    """Each value minus the best of the others (the runner-up's for the best; 0 if alone)."""
    ranked = sorted(values.values(), reverse=True)
    best, second = (ranked + [0.0, 0.0])[:2]
    return {key: value - (second if value == best else best) for key, value in values.items()}


FEATURE_NAMES = (
    "semantic",
    "semantic_margin",
    "bm25_share",
    "query_coverage",
    "document_coverage",
)


@dataclass(frozen=True)
class Features:
    """What the calibrated score is computed from, for one query and one candidate.

    The margin compares the candidate with the rest of its pool, as a ratio test does: a
    document far ahead of the others is likelier the one than an equally similar one among
    look-alikes, and the best of a pool that lacks the right answer is rarely far ahead.
    """

    semantic: float  # cosine of the sentence vectors (negatives as 0)
    semantic_margin: float  # semantic minus the best semantic among the other candidates
    bm25_share: float  # BM25 over the best BM25 in the pool (0..1)
    query_coverage: float  # IDF-weighted share of the tip's words found in the document
    document_coverage: float  # IDF-weighted share of the document's words found in the tip

    def values(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in FEATURE_NAMES)

    def score(self) -> float:
        bias, *weights = WEIGHTS
        return _sigmoid(bias + sum(w * v for w, v in zip(weights, self.values(), strict=True)))


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

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of a tip, computed from the same cleaned text the lexical side sees."""
        return self.embed([query_text(text)])[0]

    def features(self, text: str, vector: np.ndarray | None = None) -> dict[Hashable, Features]:
        """Candidate documents for a query with their features (for ranking and calibration).

        Candidates are the union of the best of each index, so a translation (no shared
        words) and a near-copy in a language the encoder does not know both get a chance.
        """
        query_vector = vector if vector is not None else self.embed_query(text)
        tokens = tokenize(query_text(text))
        bm25 = dict(self._lexical.search(tokens, CANDIDATES_PER_INDEX))
        similar: dict[Hashable, float] = {}
        if np.any(query_vector):
            similar = dict(self._vectors.search(query_vector, CANDIDATES_PER_INDEX))
        ids = bm25.keys() | similar.keys()
        for doc_id in ids - bm25.keys():
            bm25[doc_id] = self._lexical.score(tokens, doc_id)
        for doc_id in ids - similar.keys():
            similar[doc_id] = self._vectors.similarity(doc_id, query_vector)
        best_bm25 = max(bm25.values(), default=0.0) or 1.0
        semantic = {doc_id: max(similar[doc_id], 0.0) for doc_id in ids}
        margins = _margins(semantic)
        query_terms = set(tokens)
        query_weights = {term: self._lexical.idf(term) for term in query_terms}
        features = {}
        for doc_id in ids:
            doc_terms = self._lexical.terms(doc_id)
            doc_weights = {term: self._lexical.idf(term) for term in doc_terms}
            features[doc_id] = Features(
                semantic=semantic[doc_id],
                semantic_margin=margins[doc_id],
                bm25_share=bm25[doc_id] / best_bm25,
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
