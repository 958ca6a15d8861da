"""The in-memory matching indexes of one process, built from the database and kept fresh.

The database stays the source of truth: every worker builds its own indexes at start-up from
stored vectors (encoding only rows that lack one, and saving those vectors back) and then
follows changes by polling ``updated_at``. All index work runs on one dedicated thread, so
the event loop never waits on numpy and the indexes are never read while they are written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from matching import (
    CLAIM_THRESHOLDS,
    FACT_CHECK_THRESHOLDS,
    Candidate,
    Document,
    Encoder,
    Matcher,
    Thresholds,
    document_text,
)
from storage import claims
from storage.claims import OPEN_STATUSES
from storage.db import Database
from storage.models import Claim, FactCheck
from storage.types import utcnow
from storage.vectors import changes_since, rows_with_ids, save_vectors

log = logging.getLogger(__name__)

T = TypeVar("T")

_LATE_COMMIT_MARGIN = timedelta(seconds=30)


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_from_bytes(data: bytes | None, dim: int) -> np.ndarray | None:
    if not data or len(data) != dim * 4:
        return None
    return np.frombuffer(data, dtype=np.float32)


def fact_check_document(fact_check: FactCheck, dim: int) -> Document:
    """A fact-check as the matcher sees it: the claim it reviews, titled by its headline."""
    return Document(
        id=fact_check.id or 0,
        text=fact_check.claim_reviewed,
        title=fact_check.headline or "",
        lang=fact_check.language,
        vector=vector_from_bytes(fact_check.embedding, dim) if fact_check.embedding_model else None,
    )


def claim_document(claim: Claim, dim: int) -> Document:
    return Document(
        id=claim.id or 0,
        text=claim.canonical_text,
        lang=claim.language,
        vector=vector_from_bytes(claim.embedding, dim) if claim.embedding_model else None,
    )


@dataclass(frozen=True)
class Matches:
    """What the indexes say about one tip."""

    claims: list[Candidate]
    fact_checks: list[Candidate]
    vector: np.ndarray
    encoder_name: str
    # The newest claim the claim index held when it was searched: a claim indexed after that
    # is searched again before the tip is filed (``rematch_with_new_claims``).
    claims_up_to: int = 0


class MatchingIndexes:
    """The fact-check index and the open-claim index of this process."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        fact_check_thresholds: Thresholds = FACT_CHECK_THRESHOLDS,
        claim_thresholds: Thresholds = CLAIM_THRESHOLDS,
        vector_dtype: type = np.float32,
    ) -> None:
        self.encoder = encoder
        self.fact_checks = Matcher(encoder, fact_check_thresholds, dtype=vector_dtype)
        self.claims = Matcher(encoder, claim_thresholds, dtype=vector_dtype)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matching")
        self._fact_check_cursor: tuple[datetime, int] | None = None
        self._claim_cursor: tuple[datetime, int] | None = None
        # Per table: the rows applied whose updated_at the next refresh may read again.
        self._applied: dict[str, dict[int, datetime]] = {}
        self.loaded = False
        self.filing_lock = asyncio.Lock()
        self._newest_claim_id = 0
        # Forwards repeat word for word: encode each text once (4,096 vectors are 8 MB).
        self._embed_query = functools.lru_cache(maxsize=4096)(self._embed_read_only)

    def _embed_read_only(self, text: str) -> np.ndarray:
        vector = self.fact_checks.embed_query(text)
        vector.flags.writeable = False  # shared by every tip with this text
        return vector

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def warm_up(self) -> None:
        """Load the encoder's model now rather than on the first tip."""
        await self._run(self.encoder.encode, ["Loading the sentence encoder."])

    async def match(self, text: str, language: str | None, *, top_k: int = 5) -> Matches:
        """Encode a tip once and look it up in both indexes."""
        return await self._run(self._match, text, language, top_k)

    def _match(self, text: str, language: str | None, top_k: int) -> Matches:
        vector = self._embed_query(text)
        return Matches(
            claims=self.claims.search(text, lang=language, vector=vector, top_k=top_k),
            fact_checks=self.fact_checks.search(text, lang=language, vector=vector, top_k=top_k),
            vector=vector,
            encoder_name=self.encoder.name,
            claims_up_to=self._newest_claim_id,
        )

    async def add_claim(self, claim: Claim) -> None:
        """Index a claim this worker just created (other workers pick it up on refresh)."""
        if claim.status not in OPEN_STATUSES:
            return
        await self._run(self._apply_claims, [claim])
        self._seen_applied([claim])

    async def rematch_with_new_claims(
        self, session: AsyncSession, matches: Matches, text: str, language: str | None
    ) -> Matches:
        """Index claims other workers created since we last looked, and search the claims
        again if any were indexed after ``matches`` was (by this worker too, meanwhile).

        Called with the cross-worker filing lock held (``storage.claims.lock_claim_filing``):
        claims are then created one at a time in id order, so "newer than the newest id we
        know" misses none, and two simultaneous first forwards make one claim.
        """
        newer = await claims.open_claims_after(session, self._newest_claim_id)
        if newer:
            await self._run(self._apply_claims, newer)
            self._seen_applied(newer)
        return await self.search_claims_indexed_since(matches, text, language)

    async def search_claims_indexed_since(
        self, matches: Matches, text: str, language: str | None
    ) -> Matches:
        """Search the claims again if any were indexed after ``matches`` was."""
        if self._newest_claim_id == matches.claims_up_to:
            return matches

        def search() -> Matches:
            found = self.claims.search(text, lang=language, vector=matches.vector, top_k=5)
            return dataclasses.replace(matches, claims=found, claims_up_to=self._newest_claim_id)

        return await self._run(search)

    async def remove_claim(self, claim_id: int) -> None:
        await self._run(self.claims.remove, claim_id)

    async def add_fact_checks(self, fact_checks: Sequence[FactCheck]) -> None:
        documents = [fact_check_document(f, self.encoder.dim) for f in fact_checks]
        await self._run(self.fact_checks.add, documents)

    async def search_fact_checks(self, text: str, *, top_k: int = 10) -> list[Candidate]:
        return await self._run(lambda: self.fact_checks.search(text, top_k=top_k))

    async def search_claims_for(self, fact_check: FactCheck, *, top_k: int = 20) -> list[Candidate]:
        """Open claims a fact-check answers with certainty (its auto-reply threshold)."""

        # Its stored vector, when it has one of this encoder: no re-encoding per fact-check.
        vector = fact_check_document(fact_check, self.encoder.dim).vector

        def search() -> list[Candidate]:
            candidates = self.claims.search(
                fact_check.claim_reviewed, lang=fact_check.language, vector=vector, top_k=top_k
            )
            reply = self.fact_checks.thresholds.reply
            return [candidate for candidate in candidates if candidate.score >= reply]

        return await self._run(search)

    async def refresh(self, db: Database) -> None:
        """Bring both indexes up to date with the database (all rows on the first call)."""
        self._fact_check_cursor = await self._follow(
            db, FactCheck, self._fact_check_cursor, self._apply_fact_checks
        )
        self._claim_cursor = await self._follow(db, Claim, self._claim_cursor, self._apply_claims)
        self.loaded = True

    async def _follow(
        self,
        db: Database,
        model: type[FactCheck] | type[Claim],
        cursor: tuple[datetime, int] | None,
        apply: Callable[[list[Any]], None],
    ) -> tuple[datetime, int] | None:
        """Read every page of changed rows, vectorise what lacks vectors, apply to the index.

        The next refresh starts a margin before this one did, so a transaction that committed
        late with an earlier timestamp is still picked up; rows already applied with the same
        ``updated_at`` are skipped, so a large import is indexed once, not at every refresh.
        """
        as_document = fact_check_document if model is FactCheck else claim_document
        started = utcnow()
        applied = self._applied.setdefault(model.__tablename__, {})
        changed = 0
        while True:
            async with db.session() as session:
                changes = await changes_since(session, model, cursor)
                unseen = [row_id for at, row_id in changes if applied.get(row_id) != at]
                fresh = await rows_with_ids(session, model, unseen)
            if not changes:
                break
            if fresh:
                await self._store_missing_vectors(db, model, fresh, as_document)
                await self._run(apply, fresh)
                applied.update((row.id or 0, row.updated_at) for row in fresh)
                changed += len(fresh)
            cursor = changes[-1]
        if changed:
            log.info("%s index: %d rows updated", model.__tablename__, changed)
        if cursor is None:
            return None
        since = started - _LATE_COMMIT_MARGIN
        for row_id in [i for i, at in applied.items() if at <= since]:
            del applied[row_id]  # never read again: the next refresh starts after them
        return (since, 0)

    def _seen_applied(self, rows: Sequence[Claim]) -> None:
        """Claims indexed outside a refresh: the next refresh need not read them again."""
        applied = self._applied.setdefault(Claim.__tablename__, {})
        applied.update((row.id or 0, row.updated_at) for row in rows)

    def _apply_fact_checks(self, rows: list[FactCheck]) -> None:
        self.fact_checks.add([fact_check_document(row, self.encoder.dim) for row in rows])

    def _apply_claims(self, rows: list[Claim]) -> None:
        self._newest_claim_id = max([self._newest_claim_id, *(c.id or 0 for c in rows)])
        for claim in rows:
            if claim.status not in OPEN_STATUSES:
                self.claims.remove(claim.id)
        self.claims.add(
            [claim_document(c, self.encoder.dim) for c in rows if c.status in OPEN_STATUSES]
        )

    async def _store_missing_vectors(
        self,
        db: Database,
        model: type[FactCheck] | type[Claim],
        rows: Sequence[FactCheck] | Sequence[Claim],
        as_document: Callable[..., Document],
    ) -> None:
        """Encode rows that have no vector of this encoder yet, and save the vectors."""
        missing = [row for row in rows if row.embedding_model != self.encoder.name]
        if model is Claim:
            missing = [row for row in missing if row.status in OPEN_STATUSES]
        if not missing:
            return
        texts = [document_text(as_document(row, self.encoder.dim)) for row in missing]
        vectors = await self._run(self.encoder.encode, texts)
        for row, vector in zip(missing, vectors, strict=True):
            row.embedding, row.embedding_model = vector_to_bytes(vector), self.encoder.name
        async with db.session() as session:
            await save_vectors(
                session, model, [(row.id, row.embedding) for row in missing], self.encoder.name
            )

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
