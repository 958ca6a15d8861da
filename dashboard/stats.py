"""Statistics with server-drawn charts, and CSV exports of claims and statistics."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from dashboard.app import DASHBOARD, render
from dashboard.charts import column_chart, row_chart
from storage.dashboard import CLAIM_EXPORT_COLUMNS, Statistics, export_claims, statistics_report

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_OPEN = ("new", "in_review")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def _csv_response(text: str, name: str) -> web.Response:
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="tipline-{name}-{stamp}.csv"'},
    )


async def _report(request: web.Request) -> Statistics:
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        return await statistics_report(session)


async def statistics(request: web.Request) -> web.Response:
    """Tips per day, answered against queued, top claims, languages, time to a verdict."""
    report = await _report(request)
    days = [d.strftime("%d %b") for d in report.days]
    queued = sum(report.claims_by_status[s] for s in _OPEN)
    return render(
        request,
        "stats.html",
        report=report,
        tips_chart=column_chart(days, {"Tips": report.tips_per_day}),
        flow_chart=column_chart(
            days, {"New claims": report.claims_per_day, "Answered": report.answered_per_day}
        ),
        top_chart=row_chart(
            [(f"#{c.id} {c.canonical_text}", c.reporter_count) for c in report.top_claims]
        ),
        language_chart=row_chart(report.languages),
        queued=queued,
        answered=report.claims_by_status["answered"],
    )


async def statistics_csv(request: web.Request) -> web.Response:
    """The statistics page's daily figures as CSV."""
    report = await _report(request)
    rows = zip(
        (d.isoformat() for d in report.days),
        report.tips_per_day,
        report.claims_per_day,
        report.answered_per_day,
        strict=True,
    )
    return _csv_response(csv_text(("date", "tips", "new_claims", "answered"), rows), "statistics")


async def claims_csv(request: web.Request) -> web.Response:
    """Every claim with its counts and verdict; nothing that identifies a sender."""
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        rows = await export_claims(session)
    table = ([row[name] for name in CLAIM_EXPORT_COLUMNS] for row in rows)
    return _csv_response(csv_text(CLAIM_EXPORT_COLUMNS, table), "claims")
