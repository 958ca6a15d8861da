"""Newly imported fact-checks offered to editors as possible answers to open claims.

Every way a fact-check arrives (``tipline factchecks import``, the scheduled feed sync) goes
through :func:`import_and_offer` or :func:`sync_feeds_and_offer`, so no import path can forget
to look for the open claims it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from newsroom.context import Newsroom
from newsroom.factchecks import ImportReport, import_sources, sync_feeds
from newsroom.fetch import Fetcher
from newsroom.images import hash_fact_check_images
from storage import claims
from storage.factchecks import get_fact_checks

__all__ = ["ImportOutcome", "import_and_offer", "suggest_answers", "sync_feeds_and_offer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportOutcome:
    """An import's counts, and how many open claims it gave a possible answer."""

    report: ImportReport
    suggested: int


async def suggest_answers(newsroom: Newsroom, fact_check_ids: Sequence[int]) -> int:
    """Mark open claims that a new fact-check matches with certainty; returns how many.

    The claim is not answered here: an editor confirms the suggestion, and answering it
    notifies its senders. A claim keeps the best-scoring suggestion it ever got.
    """
    if not fact_check_ids:
        return 0
    _, open_claims = await newsroom.indexes.sizes()
    if not open_claims:
        return 0
    async with newsroom.db.session() as session:
        fact_checks = await get_fact_checks(session, fact_check_ids)
    suggested = 0
    for fact_check in fact_checks:
        candidates = await newsroom.indexes.search_claims_for(fact_check)
        if not candidates:
            continue
        async with newsroom.db.session() as session:
            for candidate in candidates:
                claim = await claims.get_claim(session, int(candidate.id))
                if claim is None or claim.fact_check_id is not None:
                    continue
                if (claim.suggested_score or 0.0) >= candidate.score:
                    continue
                await claims.update_claim(
                    session,
                    claim,
                    suggested_fact_check_id=fact_check.id,
                    suggested_score=candidate.score,
                )
                suggested += 1
    log.info("%d open claims got a possible answer", suggested)
    return suggested


async def _offer(newsroom: Newsroom, report: ImportReport, fetcher: Fetcher) -> ImportOutcome:
    if not report.fact_check_ids:
        return ImportOutcome(report, 0)
    # The pictures they debunk, so that a forward of one gets the verdict (docs/IMAGES.md).
    await hash_fact_check_images(newsroom.db, report.fact_check_ids, fetcher=fetcher)
    # The claim index must know every claim filed so far, and the fact-check index the new
    # rows, before we search and before the next tip arrives.
    await newsroom.indexes.refresh(newsroom.db)
    return ImportOutcome(report, await suggest_answers(newsroom, report.fact_check_ids))


async def import_and_offer(
    newsroom: Newsroom, sources: Sequence[str], *, fetcher: Fetcher
) -> ImportOutcome:
    """Import files and URLs, then offer what is new or changed to matching open claims."""
    report = await import_sources(newsroom.db, sources, fetcher=fetcher)
    return await _offer(newsroom, report, fetcher)


async def sync_feeds_and_offer(
    newsroom: Newsroom, feed_urls: Sequence[str], *, fetcher: Fetcher
) -> ImportOutcome:
    """Sync the configured feeds, then offer their new articles to matching open claims."""
    return await _offer(
        newsroom, await sync_feeds(newsroom.db, feed_urls, fetcher=fetcher), fetcher
    )
