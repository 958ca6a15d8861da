"""The in-memory matching indexes of one process, built from the database and kept fresh.

The database stays the source of truth: every worker builds its own indexes at start-up from
stored vectors (encoding only rows that lack one, and saving those vectors back) and then
follows changes by polling ``updated_at``. All index work runs in one place, one operation at
a time: a dedicated thread, or a process of its own in `tipline run` (where matching then has a
core of its own), so the event loop never waits on numpy and the indexes are never read while
they are written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from matching import (
    CLAIM_THRESHOLDS,
    FACT_CHECK_THRESHOLDS,
    Candidate,
    Document,
    Encoder,
    Thresholds,
    detect_language,
    document_text,
)
from matching.holder import IndexHolder, Matches, MatchingProcess, MatchingProcessDiedError
from matching.language import MIN_LETTERS, SAMPLE_CHARS
from storage import claims
from storage.claims import OPEN_STATUSES
from storage.db import Database
from storage.models import Claim, FactCheck
from storage.types import utcnow
from storage.vectors import changes_since, rows_with_ids, save_vectors

log = logging.getLogger(__name__)

_LATE_COMMIT_MARGIN = timedelta(seconds=30)
# Languages of recent texts kept in the worker: forwards repeat word for word.
_KNOWN_LANGUAGES = 4096
MATCH_TOP_K = 5  # candidates of each kind a tip's match gives


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


class MatchingIndexes:
    """The fact-check index and the open-claim index of this worker, behind async calls.

    The indexes are held on one dedicated thread (the default, and what tests use) or, with
    ``own_process``, in a process of their own, where matching has a core to itself instead
    of sharing the event loop's interpreter lock; the encoder is then loaded there, by name.
    Either way the operations run there one at a time, in the order they were asked for;
    in the process, a filing's operations on the claim index go before reads waiting there
    (``matching.holder.serve``).
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        fact_check_thresholds: Thresholds = FACT_CHECK_THRESHOLDS,
        claim_thresholds: Thresholds = CLAIM_THRESHOLDS,
        vector_dtype: type = np.float32,
        own_process: bool = False,
    ) -> None:
        self.encoder_name, self.dim = encoder.name, encoder.dim
        self._holder_args = (fact_check_thresholds, claim_thresholds, vector_dtype)
        # On the thread, the holder is here to be read (tests adjust its thresholds).
        self.holder = None if own_process else IndexHolder(encoder, *self._holder_args)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matching")
        self._process = None if self.holder is not None else self._start_process()
        self._closed = False
        self._languages: OrderedDict[tuple[str, str | None], str] = OrderedDict()
        self._fact_check_cursor: tuple[datetime, int] | None = None
        self._claim_cursor: tuple[datetime, int] | None = None
        # Per table: the rows applied whose updated_at the next refresh may read again.
        self._applied: dict[str, dict[int, datetime]] = {}
        self.loaded = False
        self.filing_lock = asyncio.Lock()
        # The newest claim id sent to the holder: at least the newest it has indexed.
        self._newest_claim_id = 0
        self._db: Database | None = None
        self._reloaded: asyncio.Future[None] | None = None

    def _start_process(self) -> MatchingProcess:
        return MatchingProcess(self.encoder_name, *self._holder_args)

    def _run(self, operation: str, *args: object) -> Awaitable[Any]:
        """Ask for one holder operation now, after every one asked for before; await it later.

        If the matching process died, it is restarted and reloaded (from the database) and
        the operation asked again, so that no tip is matched against a half-empty index.
        """
        if self._process is None:
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(self._thread, getattr(self.holder, operation), *args)
        process = self._process
        return self._answer(process, process.send(operation, *args), operation, args)

    async def _answer(
        self, process: MatchingProcess, sent: Awaitable[Any], operation: str, args: tuple[Any, ...]
    ) -> Any:
        try:
            return await sent
        except MatchingProcessDiedError:
            if self._closed:
                raise
            if process is self._process:  # the first to notice restarts it
                log.error("the matching process died; restarting it and reloading the indexes")
                process.close()
                self._process = self._start_process()
                self._reloaded = asyncio.ensure_future(self._reload())
            if self._reloaded is not None:
                await asyncio.shield(self._reloaded)
            return await self._process.call(operation, *args)

    async def _reload(self) -> None:
        self._fact_check_cursor = self._claim_cursor = None
        self._applied.clear()
        self._newest_claim_id = 0
        if self._db is not None:
            await self.refresh(self._db)

    async def warm_up(self) -> None:
        """Load the encoder's model and the language profiles now rather than on the first tip."""
        await self._run("warm_up")

    async def detect_language(
        self, text: str, fallback: str | None = None, *, then_match: str | None = None
    ) -> str:
        """:func:`matching.detect_language`, run where the indexes are.

        langdetect is pure Python: on the event loop it took a twelfth of a loaded worker's
        time (docs/BENCHMARKS.md). The answers for recent texts are kept here, so a repeated
        forward costs no hand-over; a text too short to detect is answered here too.
        ``then_match`` is the text to be matched next, if any: a matching process with
        nothing else to do starts on it (``IndexHolder.look_ahead``).
        """
        if len(text) < MIN_LETTERS:
            return detect_language(text, fallback)
        key = (text[:SAMPLE_CHARS], fallback)
        language = self._languages.get(key)
        if language is not None:
            self._languages.move_to_end(key)
            return language
        ahead = (then_match, MATCH_TOP_K) if then_match and self._process is not None else None
        language = await self._run("detect_language", text, fallback, ahead)
        self._languages[key] = language
        if len(self._languages) > _KNOWN_LANGUAGES:
            self._languages.popitem(last=False)
        return language

    async def sizes(self) -> tuple[int, int]:
        """How many fact-checks and open claims are indexed."""
        return await self._run("sizes")

    async def match(self, text: str, language: str | None, *, top_k: int = MATCH_TOP_K) -> Matches:
        """Encode a tip once and look it up in both indexes."""
        return await self._run("match", text, language, top_k)

    def index_claim(self, claim: Claim) -> Awaitable[None]:
        """Send a claim this worker just founded to the claim index now; await it later.

        Every operation asked for after it sees the claim indexed: a filing can let the next
        one go as soon as this is sent, rather than hold the filing lock until it is done.
        Other workers pick the claim up on refresh.
        """
        self._seen_applied([claim])
        return self._apply_claims([claim])

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
            await self._apply_claims(newer)
            self._seen_applied(newer)
        return await self.search_claims_indexed_since(matches, text, language)

    async def search_claims_indexed_since(
        self, matches: Matches, text: str, language: str | None
    ) -> Matches:
        """Search the claims again if any were indexed after ``matches`` was."""
        if self._newest_claim_id == matches.claims_up_to:
            return matches
        return await self._run("search_claims_again", matches, text, language)

    async def add_fact_checks(self, fact_checks: Sequence[FactCheck]) -> None:
        await self._run("add_fact_checks", [fact_check_document(f, self.dim) for f in fact_checks])

    async def search_fact_checks(self, text: str, *, top_k: int = 10) -> list[Candidate]:
        return await self._run("search_fact_checks", text, top_k)

    async def search_claims_for(self, fact_check: FactCheck, *, top_k: int = 20) -> list[Candidate]:
        """Open claims a fact-check answers with certainty (its auto-reply threshold)."""
        # Its stored vector, when it has one of this encoder: no re-encoding per fact-check.
        document = fact_check_document(fact_check, self.dim)
        return await self._run(
            "claims_answered_by", document.text, document.lang, document.vector, top_k
        )

    async def refresh(self, db: Database) -> None:
        """Bring both indexes up to date with the database (all rows on the first call)."""
        self._db = db  # to reload from, should the matching process die
        self._fact_check_cursor = await self._follow(
            db, FactCheck, self._fact_check_cursor, self.add_fact_checks
        )
        self._claim_cursor = await self._follow(db, Claim, self._claim_cursor, self._apply_claims)
        self.loaded = True

    async def _follow(
        self,
        db: Database,
        model: type[FactCheck] | type[Claim],
        cursor: tuple[datetime, int] | None,
        apply: Callable[[list[Any]], Awaitable[None]],
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
                await apply(fresh)
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

    def _apply_claims(self, rows: Sequence[Claim]) -> Awaitable[None]:
        self._newest_claim_id = max([self._newest_claim_id, *(c.id or 0 for c in rows)])
        open_claims = [claim_document(c, self.dim) for c in rows if c.status in OPEN_STATUSES]
        closed = [c.id or 0 for c in rows if c.status not in OPEN_STATUSES]
        return self._run("apply_claims", open_claims, closed)

    async def _store_missing_vectors(
        self,
        db: Database,
        model: type[FactCheck] | type[Claim],
        rows: Sequence[FactCheck] | Sequence[Claim],
        as_document: Callable[..., Document],
    ) -> None:
        """Encode rows that have no vector of this encoder yet, and save the vectors."""
        missing = [row for row in rows if row.embedding_model != self.encoder_name]
        if model is Claim:
            missing = [row for row in missing if row.status in OPEN_STATUSES]
        if not missing:
            return
        texts = [document_text(as_document(row, self.dim)) for row in missing]
        vectors = await self._run("encode", texts)
        for row, vector in zip(missing, vectors, strict=True):
            row.embedding, row.embedding_model = vector_to_bytes(vector), self.encoder_name
        async with db.session() as session:
            await save_vectors(
                session, model, [(row.id, row.embedding) for row in missing], self.encoder_name
            )

    def close(self) -> None:
        self._closed = True
        self._thread.shutdown(wait=False, cancel_futures=True)
        if self._process is not None:
            self._process.close()
