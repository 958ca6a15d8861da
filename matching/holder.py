"""The two indexes of a worker (fact-checks, open claims) and every operation on them.

Held on a thread of the worker, or in a matching process of its own: this module is all that
process imports (numpy and the encoder, not the database stack), and ``start_holder`` sets it
up there.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass

import numpy as np

from matching.encoder import Encoder, load_encoder
from matching.language import detect_language
from matching.matcher import Candidate, Document, Matcher, Thresholds

__all__ = ["IndexHolder", "Matches", "call_holder", "start_holder"]


@dataclass(frozen=True)
class Matches:
    """What the indexes say about one tip."""

    claims: list[Candidate]
    fact_checks: list[Candidate]
    vector: np.ndarray
    encoder_name: str
    # The newest claim the claim index held when it was searched: a claim indexed after that
    # is searched again before the tip is filed (``search_claims_again``).
    claims_up_to: int = 0


class IndexHolder:
    """The fact-check and open-claim matchers, and every operation on them, in plain calls.

    It lives wherever the indexes do: on a worker's matching thread, or in its matching
    process (``newsroom.indexes.MatchingIndexes``). Arguments and results are plain data
    (documents, ids, texts, vectors), so that either way they can cross over.
    """

    def __init__(
        self,
        encoder: Encoder,
        fact_check_thresholds: Thresholds,
        claim_thresholds: Thresholds,
        vector_dtype: type,
    ) -> None:
        self.encoder = encoder
        self.fact_checks = Matcher(encoder, fact_check_thresholds, dtype=vector_dtype)
        self.claims = Matcher(encoder, claim_thresholds, dtype=vector_dtype)
        self.newest_claim_id = 0
        # Forwards repeat word for word: encode each text once (4,096 vectors are 8 MB).
        self._embed_query = functools.lru_cache(maxsize=4096)(self._embed_read_only)

    def _embed_read_only(self, text: str) -> np.ndarray:
        vector = self.fact_checks.embed_query(text)
        vector.flags.writeable = False  # shared by every tip with this text
        return vector

    def warm_up(self) -> None:
        self.encoder.encode(["Loading the sentence encoder."])
        detect_language("Loading the language profiles before the first tip comes in.")

    def detect_language(self, text: str, fallback: str | None) -> str:
        return detect_language(text, fallback)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def sizes(self) -> tuple[int, int]:
        return len(self.fact_checks), len(self.claims)

    def match(self, text: str, language: str | None, top_k: int) -> Matches:
        vector = self._embed_query(text)
        return Matches(
            claims=self.claims.search(text, lang=language, vector=vector, top_k=top_k),
            fact_checks=self.fact_checks.search(text, lang=language, vector=vector, top_k=top_k),
            vector=vector,
            encoder_name=self.encoder.name,
            claims_up_to=self.newest_claim_id,
        )

    def search_claims_again(self, matches: Matches, text: str, language: str | None) -> Matches:
        found = self.claims.search(text, lang=language, vector=matches.vector, top_k=5)
        return dataclasses.replace(matches, claims=found, claims_up_to=self.newest_claim_id)

    def search_fact_checks(self, text: str, top_k: int) -> list[Candidate]:
        return self.fact_checks.search(text, top_k=top_k)

    def claims_answered_by(
        self, text: str, language: str | None, vector: np.ndarray | None, top_k: int
    ) -> list[Candidate]:
        candidates = self.claims.search(text, lang=language, vector=vector, top_k=top_k)
        reply = self.fact_checks.thresholds.reply
        return [candidate for candidate in candidates if candidate.score >= reply]

    def add_fact_checks(self, documents: list[Document]) -> None:
        self.fact_checks.add(documents)

    def apply_claims(self, open_claims: list[Document], closed_ids: list[int]) -> None:
        """Index open claims and drop closed ones (an id of either kind may be new here)."""
        newest = (int(doc.id) for doc in open_claims)
        self.newest_claim_id = max([self.newest_claim_id, *newest, *closed_ids])
        for claim_id in closed_ids:
            self.claims.remove(claim_id)
        self.claims.add(open_claims)

    def remove_claim(self, claim_id: int) -> None:
        self.claims.remove(claim_id)


# The matching process's indexes (set there by ``start_holder``); unset everywhere else.
_holder: IndexHolder | None = None


def start_holder(
    encoder_name: str,
    fact_check_thresholds: Thresholds,
    claim_thresholds: Thresholds,
    vector_dtype: type,
) -> None:
    global _holder
    # This process does nothing else: an interrupt is for the parent, who shuts it down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:  # a killed worker must not leave its indexes behind, orphaned
        threading.Thread(target=_exit_with, args=(parent,), name="parent", daemon=True).start()
    encoder = load_encoder(encoder_name)
    _holder = IndexHolder(encoder, fact_check_thresholds, claim_thresholds, vector_dtype)


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent has gone, however it went
    os._exit(0)


def call_holder(operation: str, *args: object) -> object:
    return getattr(_holder, operation)(*args)
