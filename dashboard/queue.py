"""The queue of claims and the page of one claim (read side; actions are in ``actions``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from dashboard.app import DASHBOARD, current_editor, render
from newsroom import desk
from storage.dashboard import claim_languages, list_editors
from storage.db import Database
from storage.factchecks import get_fact_check, list_fact_checks
from storage.models import ClaimStatus

PAGE_SIZE = 25
_FILTER_KEYS = ("status", "language", "assignee", "media", "since", "q")
_CLAIM_NUMBER = re.compile(r"#?(\d{1,9})")
# The claims the desk lets another claim merge into (``desk.merge_claims`` decides).
_MERGE_TARGETS = (*desk.OPEN_STATUSES, ClaimStatus.ANSWERED)


@dataclass(frozen=True)
class QueueRequest:
    """The queue's query string, parsed: what to ask the desk for and how to rebuild links."""

    values: dict[str, str]
    page: int
    status: str | None
    language: str | None
    assignee_id: int | None
    has_media: bool | None
    since: datetime | None
    search: str | None

    def query(self, **changes: str | int) -> str:
        """This view's query string with some parameters changed (e.g. another page)."""
        values = {**self.values, "page": str(self.page), **{k: str(v) for k, v in changes.items()}}
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})

    def link(self, **changes: str | int) -> str:
        query = self.query(**changes)
        return f"/?{query}" if query else "/"


def _date(value: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        return None


def _int(value: str, default: int) -> int:
    return int(value) if value.isdigit() and len(value) < 10 else default


def parse_queue_request(query: MultiMapping[str], editor_id: int) -> QueueRequest:
    """Filters from the query string; anything unrecognised is ignored, not an error."""
    values = {key: query.get(key, "").strip()[:200] for key in _FILTER_KEYS}
    if values["status"] not in {s.value for s in ClaimStatus}:
        values["status"] = ""
    assignee = values["assignee"]
    return QueueRequest(
        values=values,
        page=max(1, _int(query.get("page", "1"), 1)),
        status=values["status"] or None,
        language=values["language"][:16] or None,
        assignee_id=editor_id if assignee == "me" else _int(assignee, 0) or None,
        has_media={"yes": True, "no": False}.get(values["media"]),
        since=_date(values["since"]),
        search=values["q"] or None,
    )


async def _claim_by_number(db: Database, search: str | None) -> list[desk.ClaimSummary] | None:
    """A search that is a claim number ("42" or "#42") finds that claim, whatever its status;
    None when the search is text."""
    number = _CLAIM_NUMBER.fullmatch(search or "")
    if number is None:
        return None
    try:
        return [await desk.claim_summary(db, int(number.group(1)))]
    except desk.ClaimNotFoundError:
        return []


async def _queue_context(request: web.Request) -> dict[str, Any]:
    wanted = parse_queue_request(request.query, current_editor(request).id or 0)
    db = request.app[DASHBOARD].newsroom.db
    rows = await _claim_by_number(db, wanted.search)
    if rows is None:
        rows = await desk.list_queue(
            db,
            status=wanted.status,
            language=wanted.language,
            assignee_id=wanted.assignee_id,
            search=wanted.search,
            has_media=wanted.has_media,
            since=wanted.since,
            limit=PAGE_SIZE + 1,  # one more tells whether there is a next page
            offset=(wanted.page - 1) * PAGE_SIZE,
        )
    async with db.session() as session:
        languages = await claim_languages(session)
        editors = await list_editors(session)
    return {
        "rows": rows[:PAGE_SIZE],
        "has_next": len(rows) > PAGE_SIZE,
        "wanted": wanted,
        "languages": languages,
        "editors": editors,
        "statuses": [s.value for s in ClaimStatus],
        "now": datetime.now(UTC),
    }


async def queue(request: web.Request) -> web.Response:
    """The queue: open claims, most urgent first, with filters and paging."""
    return render(request, "queue.html", **await _queue_context(request))


async def queue_rows(request: web.Request) -> web.Response:
    """The queue's table body alone, for the page's live refresh."""
    return render(request, "queue_rows.html", **await _queue_context(request))


async def _suggestions(request: web.Request, detail: desk.ClaimDetail) -> list[Any]:
    """The desk's stored suggestion first, then the matcher's best fact-checks right now."""
    newsroom = request.app[DASHBOARD].newsroom
    found = list(detail.suggestions)
    matches = await newsroom.indexes.match(
        detail.claim.canonical_text, detail.claim.language, top_k=5
    )
    known = {s.id for s in found} | {detail.fact_check.id if detail.fact_check else -1}
    async with newsroom.db.session() as session:
        for candidate in matches.fact_checks:
            fact_check = await get_fact_check(session, int(candidate.id))
            if fact_check is not None and fact_check.id not in known:
                known.add(fact_check.id)
                found.append(
                    desk.FactCheckSummary(
                        id=fact_check.id or 0,
                        url=fact_check.url,
                        headline=fact_check.headline,
                        claim_reviewed=fact_check.claim_reviewed,
                        publisher=fact_check.publisher,
                        rating=fact_check.rating,
                        rating_text=fact_check.rating_text,
                        language=fact_check.language,
                        score=candidate.score,
                    )
                )
    return found


async def claim_page(request: web.Request) -> web.Response:
    """One claim: its tip variants, answer, suggestions, history and the desk's actions."""
    claim_id = _int(request.match_info["claim_id"], 0)
    merge_query = request.query.get("merge_q", "").strip()[:200]
    fact_check_query = request.query.get("fc_q", "").strip()[:200]
    db = request.app[DASHBOARD].newsroom.db
    try:
        detail = await desk.claim_detail(db, claim_id)
    except desk.ClaimNotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    found = await _claim_by_number(db, merge_query)
    if found is None:
        found = await desk.list_queue(db, search=merge_query, limit=10) if merge_query else []
    merge_candidates = [c for c in found if c.id != claim_id and c.status in _MERGE_TARGETS]
    async with db.session() as session:
        found_fact_checks = (
            await list_fact_checks(session, search=fact_check_query, limit=10)
            if fact_check_query
            else []
        )
        editors = await list_editors(session)
    return render(
        request,
        "claim.html",
        detail=detail,
        claim=detail.claim,
        suggestions=await _suggestions(request, detail),
        merge_query=merge_query,
        merge_candidates=merge_candidates,
        fact_check_query=fact_check_query,
        found_fact_checks=found_fact_checks,
        editors=[e for e in editors if e.active and e.role != "viewer"],
        statuses=[s.value for s in ClaimStatus],
    )
