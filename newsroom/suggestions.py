"""Newly imported fact-checks offered to editors as possible answers to open claims."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from newsroom.context import Newsroom
from storage import claims
from storage.factchecks import get_fact_check

log = logging.getLogger(__name__)


async def suggest_answers(newsroom: Newsroom, fact_check_ids: Sequence[int]) -> int:
    """Mark open claims that a new fact-check matches with certainty; returns how many.

    The claim is not answered here: an editor confirms the suggestion, and answering it
    notifies its senders.
    """
    suggested = 0
    for fact_check_id in fact_check_ids:
        async with newsroom.db.session() as session:
            fact_check = await get_fact_check(session, fact_check_id)
        if fact_check is None:
            continue
        candidates = await newsroom.indexes.search_claims_for(fact_check)
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
                    suggested_fact_check_id=fact_check_id,
                    suggested_score=candidate.score,
                )
                suggested += 1
    log.info("%d open claims got a possible answer", suggested)
    return suggested
