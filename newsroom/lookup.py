"""Looking up published fact-checks without recording anything: group /check and inline mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from matching import normalize_text
from newsroom.context import Newsroom
from newsroom.intake import MAX_TIP_CHARS, MIN_MATCHABLE_CHARS, VerdictCard


@dataclass(frozen=True)
class Lookup:
    """The best published fact-check for a text, and how sure the matcher is."""

    kind: Literal["verdict", "ask", "none"]
    fact_check: VerdictCard | None = None
    score: float | None = None


async def check_text(newsroom: Newsroom, text: str, language_code: str | None = None) -> Lookup:
    """The verdict for a post shown in a group; nobody and nothing is stored."""
    text = text[:MAX_TIP_CHARS]
    normalized = normalize_text(text)
    if len(normalized) < MIN_MATCHABLE_CHARS:
        return Lookup(kind="none")
    language = await newsroom.indexes.detect_language(normalized, language_code)
    matches = await newsroom.indexes.match(text, language)
    best = matches.fact_checks[0] if matches.fact_checks else None
    if best is None or best.decision == "none":
        return Lookup(kind="none")
    async with newsroom.db.session() as session:
        card = await VerdictCard.read(session, int(best.id))
    if card is None:
        return Lookup(kind="none")
    kind: Literal["verdict", "ask"] = "verdict" if best.decision == "reply" else "ask"
    return Lookup(kind=kind, fact_check=card, score=best.score)


async def search_fact_checks(
    newsroom: Newsroom, query: str, *, limit: int = 10
) -> list[VerdictCard]:
    """Published fact-checks for a few words typed in inline mode, best first."""
    if len(normalize_text(query)) < MIN_MATCHABLE_CHARS:
        return []
    candidates = await newsroom.indexes.search_fact_checks(query[:500], top_k=limit)
    cards = []
    async with newsroom.db.session() as session:
        for candidate in candidates:
            card = await VerdictCard.read(session, int(candidate.id))
            if card is not None:
                cards.append(card)
    return cards
