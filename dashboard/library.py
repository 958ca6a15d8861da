"""The fact-check library: browse, search, import (a file or a URL) and correct fact-checks."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path, PurePath

from aiohttp import web
from aiohttp.web_request import FileField

from dashboard.app import DASHBOARD, current_session, redirect, render, set_session
from newsroom.fetch import Fetcher
from newsroom.ratings import normalise_rating
from newsroom.suggestions import ImportOutcome, import_and_offer
from storage.dashboard import (
    EDITABLE_FACT_CHECK_FIELDS,
    edit_fact_check,
    fact_check_claims,
    fact_check_page,
)
from storage.models import Rating

PAGE_SIZE = 25
_SUFFIXES = (".json", ".jsonld", ".jsonl", ".csv", ".html", ".htm", ".xml", ".rss", ".atom")


def _page(request: web.Request) -> int:
    value = request.query.get("page", "1")
    return max(1, int(value)) if value.isdigit() and len(value) < 7 else 1


async def fact_checks(request: web.Request) -> web.Response:
    """The library, newest first, searchable, with what each fact-check did."""
    search = request.query.get("q", "").strip()[:200]
    page = _page(request)
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        rows, total = await fact_check_page(
            session, search or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "factchecks.html",
        rows=rows,
        total=total,
        search=search,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


async def fact_check(request: web.Request) -> web.Response:
    """One fact-check: its fields (editable), the claims it answered, the people it reached."""
    fact_check_id = int(request.match_info["fact_check_id"])
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        row, claims = await fact_check_claims(session, fact_check_id)
    if row is None:
        raise web.HTTPNotFound(text=f"There is no fact-check #{fact_check_id}.")
    return render(
        request, "factcheck.html", row=row, claims=claims, ratings=[r.value for r in Rating]
    )


async def update_fact_check(request: web.Request) -> web.Response:
    """Save an editor's correction to a fact-check's fields."""
    fact_check_id = int(request.match_info["fact_check_id"])
    form = await request.post()
    changes: dict[str, str | None] = {
        name: str(form.get(name, "")).strip()[:4000] or None for name in EDITABLE_FACT_CHECK_FIELDS
    }
    if not changes["claim_reviewed"]:
        set_session(request, current_session(request).with_flash("The claim reviewed is required."))
        return redirect(f"/factchecks/{fact_check_id}")
    if changes["rating"] not in {r.value for r in Rating}:
        changes["rating"] = normalise_rating(changes["rating_text"])
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        updated = await edit_fact_check(session, fact_check_id, changes)
    if updated is None:
        raise web.HTTPNotFound(text=f"There is no fact-check #{fact_check_id}.")
    set_session(request, current_session(request).with_flash("Fact-check saved."))
    return redirect(f"/factchecks/{fact_check_id}")


def _report_message(outcome: ImportOutcome) -> str:
    report = outcome.report
    message = report.summary().capitalize() + "."
    if outcome.suggested:
        message += f" {outcome.suggested} open claims now have a possible answer."
    if report.rejected:
        where, reason = report.rejected[0]
        message += f" First problem: {where}: {reason}"
    return message


async def _import_upload(request: web.Request, upload: FileField) -> ImportOutcome:
    """Import an uploaded file through the same importer as ``tipline factchecks import``."""
    suffix = PurePath(upload.filename or "").suffix.lower()
    name = f"upload{suffix if suffix in _SUFFIXES else ''}"
    with tempfile.TemporaryDirectory(prefix="tipline-import-") as folder:
        path = Path(folder) / name
        await asyncio.to_thread(path.write_bytes, upload.file.read())
        async with Fetcher(allow_private=request.app[DASHBOARD].allow_private_urls) as fetcher:
            outcome = await import_and_offer(
                request.app[DASHBOARD].newsroom, [str(path)], fetcher=fetcher
            )
    # The temporary path means nothing to the editor; name the file they chose.
    outcome.report.rejected = [
        (where.replace(str(path), upload.filename or "the file"), why)
        for where, why in outcome.report.rejected
    ]
    return outcome


async def import_fact_checks(request: web.Request) -> web.Response:
    """Import fact-checks from an uploaded file or from a URL (fetched SSRF-safely)."""
    form = await request.post()
    upload = form.get("file")
    url = str(form.get("url", "")).strip()
    if isinstance(upload, FileField) and upload.filename:
        outcome = await _import_upload(request, upload)
    elif url.startswith(("http://", "https://")):
        async with Fetcher(allow_private=request.app[DASHBOARD].allow_private_urls) as fetcher:
            outcome = await import_and_offer(
                request.app[DASHBOARD].newsroom, [url[:2048]], fetcher=fetcher
            )
    else:
        outcome = None
    message = (
        _report_message(outcome)
        if outcome is not None
        else "Choose a file or give an http(s) URL to import."
    )
    set_session(request, current_session(request).with_flash(message))
    return redirect("/factchecks")
