"""The fact-check library (import, edit, reach), statistics and CSV exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import SENDER_ID, Desk, add_claim, add_fact_check

from dashboard.charts import column_chart, row_chart
from dashboard.stats import safe_cell
from storage.models import FactCheck

# asyncio_mode = "auto" runs the async tests on the session loop (see pyproject.toml); the
# chart and CSV helpers below are plain functions.

RECORDS = [
    {
        "url": "https://checks.example/onions",
        "claim_reviewed": "Onions in socks cure the flu",
        "rating": "False",
        "publisher": "Example Checks",
        "language": "en",
    },
    {
        "url": "https://checks.example/garlic",
        "claim_reviewed": "Garlic water prevents infection",
        "rating": "Misleading",
        "language": "en",
    },
]
JSONL = "\n".join(json.dumps(record) for record in RECORDS).encode()


@pytest_asyncio.fixture(loop_scope="session")
async def publisher() -> AsyncIterator[TestServer]:
    """A fact-checker's site on localhost, serving our JSON Lines format."""

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=JSONL, content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/factchecks.jsonl", feed)
    server = TestServer(app)
    await server.start_server()
    yield server
    await server.close()


async def _urls(desk: Desk) -> set[str]:
    async with desk.db.session() as session:
        from sqlmodel import select

        return set((await session.exec(select(FactCheck.url))).all())


async def test_uploading_a_file_imports_its_fact_checks(editor_desk: Desk) -> None:
    form = aiohttp.FormData()
    form.add_field("csrf_token", await editor_desk.csrf("/factchecks"))
    form.add_field("file", JSONL, filename="checks.jsonl", content_type="application/x-ndjson")
    response = await editor_desk.client.post("/factchecks/import", data=form)
    html = await response.text()
    assert "2 new" in html
    assert await _urls(editor_desk) == {r["url"] for r in RECORDS}
    assert "Onions in socks cure the flu" in html


async def test_importing_from_a_url_fetches_it(editor_desk: Desk, publisher: TestServer) -> None:
    url = str(publisher.make_url("/factchecks.jsonl"))
    status = await editor_desk.post("/factchecks/import", {"url": url})
    assert status == 303
    assert await _urls(editor_desk) == {r["url"] for r in RECORDS}


async def test_an_unreadable_upload_is_reported(editor_desk: Desk) -> None:
    form = aiohttp.FormData()
    form.add_field("csrf_token", await editor_desk.csrf("/factchecks"))
    form.add_field("file", b"\x00\x01 not a format", filename="junk.bin")
    html = await (await editor_desk.client.post("/factchecks/import", data=form)).text()
    assert "0 new" in html
    assert "junk.bin" in html
    assert "/tmp" not in html  # noqa: S108 (no server path leaks into the page)


async def test_editing_a_fact_check_saves_and_drops_its_stale_vector(editor_desk: Desk) -> None:
    fact_check_id = await add_fact_check(editor_desk.db)
    await editor_desk.newsroom.indexes.refresh(editor_desk.db)
    status = await editor_desk.post(
        f"/factchecks/{fact_check_id}",
        {"claim_reviewed": "The moon is cheese, corrected", "rating": "mostly_false"},
    )
    assert status == 303
    async with editor_desk.db.session() as session:
        fact_check = await session.get_one(FactCheck, fact_check_id)
    assert fact_check.claim_reviewed == "The moon is cheese, corrected"
    assert fact_check.rating == "mostly_false"
    assert fact_check.headline is None
    assert fact_check.embedding is None


async def test_library_search_finds_by_publisher(editor_desk: Desk) -> None:
    await add_fact_check(editor_desk.db, url="https://a.example/1", publisher="Alpha Checks")
    await add_fact_check(editor_desk.db, url="https://b.example/1", publisher="Beta Facts")
    html = await (await editor_desk.client.get("/factchecks?q=beta")).text()
    assert "Beta Facts" in html
    assert "Alpha Checks" not in html


async def test_claims_csv_neutralises_formulas_and_names_no_sender(editor_desk: Desk) -> None:
    await add_claim(editor_desk.db, '=HYPERLINK("http://evil.example","click")', [SENDER_ID])
    await add_claim(editor_desk.db, "@SUM(1+1)", [SENDER_ID + 1])
    response = await editor_desk.client.get("/claims.csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = await response.text()
    rows = list(csv.DictReader(io.StringIO(text)))
    texts = sorted(row["canonical_text"] for row in rows)
    assert texts == ['\'=HYPERLINK("http://evil.example","click")', "'@SUM(1+1)"]
    assert str(SENDER_ID) not in text
    assert not any(name in rows[0] for name in ("reporter_id", "chat_id", "telegram_user_id"))


async def test_statistics_page_draws_its_charts_and_exports_them(editor_desk: Desk) -> None:
    await add_claim(editor_desk.db, "A claim", [1, 2], language="en")
    await add_claim(editor_desk.db, "Una afirmación", [3], language="es")
    html = await (await editor_desk.client.get("/stats")).text()
    assert html.count('<svg class="chart"') == 4
    assert "Median time to a verdict" in html
    text = await (await editor_desk.client.get("/stats.csv")).text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 30
    assert sum(int(row["tips"]) for row in rows) == 3
    assert sum(int(row["new_claims"]) for row in rows) == 2


def test_formula_cells_get_a_leading_quote() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "plain", 5)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "plain",
        5,
    ]


def test_column_chart_scales_to_a_round_maximum() -> None:
    chart = column_chart(["a", "b"], {"Tips": [3, 7]}, height=220)
    assert chart.ticks[-1][1] == 10
    tallest = max(chart.columns, key=lambda c: c.height)
    assert tallest.value == 7
    assert tallest.height == pytest.approx((220 - 34) * 0.7, abs=0.01)


def test_row_chart_keeps_long_labels_short() -> None:
    chart = row_chart([("x" * 100, 4), ("short", 2)])
    assert len(chart.rows[0].label) == 60
    assert chart.rows[0].width == pytest.approx(2 * chart.rows[1].width, abs=0.01)
