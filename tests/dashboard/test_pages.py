"""Every page renders real rows, escapes hostile text, and never shows who sent a tip."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from conftest import HOSTILE, SENDER_ID, Desk, add_claim, add_editor, add_fact_check
from sqlmodel import select

from storage.models import EditorRole, Tip
from storage.types import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _hostile_newsroom(desk: Desk) -> tuple[int, int]:
    claim_id = await add_claim(
        desk.db, f"Forwarded: {HOSTILE}", [SENDER_ID, SENDER_ID + 1], forward_title=HOSTILE
    )
    fact_check_id = await add_fact_check(
        desk.db,
        url="https://example.org/fc/hostile?<b>",
        claim_reviewed=HOSTILE,
        headline=HOSTILE,
        publisher=HOSTILE,
        summary=HOSTILE,
    )
    return claim_id, fact_check_id


async def _pages(desk: Desk, claim_id: int, fact_check_id: int) -> dict[str, str]:
    paths = [
        "/",
        "/queue/rows",
        f"/?q={HOSTILE}",
        f"/claims/{claim_id}",
        f"/claims/{claim_id}?merge_q=Forwarded&fc_q=script",
        "/factchecks",
        f"/factchecks?q={HOSTILE}",
        f"/factchecks/{fact_check_id}",
        "/stats",
        "/editors",
    ]
    pages = {}
    for path in paths:
        response = await desk.client.get(path)
        assert response.status == 200, path
        pages[path] = await response.text()
    return pages


async def test_hostile_text_stays_text_on_every_page(desk: Desk) -> None:
    claim_id, fact_check_id = await _hostile_newsroom(desk)
    await add_editor(desk.db, "root", EditorRole.ADMIN)
    assert await desk.login("root") == 303
    for path, html in (await _pages(desk, claim_id, fact_check_id)).items():
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        if path != "/editors":  # the one page without claim or fact-check text
            assert "&lt;script&gt;" in html, path


async def test_sender_identity_never_appears(desk: Desk) -> None:
    claim_id, fact_check_id = await _hostile_newsroom(desk)
    await add_editor(desk.db, "root", EditorRole.ADMIN)
    assert await desk.login("root") == 303
    pages = await _pages(desk, claim_id, fact_check_id)
    for path in ("/claims.csv", "/stats.csv"):
        pages[path] = await (await desk.client.get(path)).text()
    for path, body in pages.items():
        assert str(SENDER_ID) not in body, path
        assert str(SENDER_ID + 1) not in body, path


async def test_a_javascript_url_is_never_a_link(editor_desk: Desk) -> None:
    fact_check_id = await add_fact_check(editor_desk.db, url="javascript:alert(1)")
    html = await (await editor_desk.client.get(f"/factchecks/{fact_check_id}")).text()
    assert 'href="javascript:' not in html


async def test_claim_page_shows_tip_variants_and_forward_origin(editor_desk: Desk) -> None:
    claim_id = await add_claim(
        editor_desk.db, "Bananas cure the flu", [11, 12], media=True, forward_title="Daily Rumours"
    )
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert html.count("Bananas cure the flu") >= 3  # the claim and both variants
    assert "forwarded from channel: Daily Rumours" in html
    assert "photo" in html


async def test_claim_page_shows_what_ocr_read_in_a_picture(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "", [11], media=True)
    async with editor_desk.db.session() as session:
        tip = (await session.exec(select(Tip).where(Tip.claim_id == claim_id))).one()
        tip.ocr_text = f"SCHOOLS CLOSED {HOSTILE}"
        session.add(tip)
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert "Read in the picture (OCR):</span> SCHOOLS CLOSED &lt;script&gt;" in html
    assert "(no text)" not in html


async def test_claim_page_suggests_matching_fact_checks_with_scores(editor_desk: Desk) -> None:
    await add_fact_check(editor_desk.db, claim_reviewed="The moon is made of cheese")
    await editor_desk.newsroom.indexes.refresh(editor_desk.db)
    claim_id = await add_claim(editor_desk.db, "the moon is made of cheese!!", [5])
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert "No, the moon is not made of cheese" in html
    assert 'class="score"' in html
    assert f'action="/claims/{claim_id}/answer"' in html


async def test_unknown_claim_is_not_found(editor_desk: Desk) -> None:
    response = await editor_desk.client.get("/claims/999999")
    assert response.status == 404


async def test_queue_lists_open_claims_and_filters_them(editor_desk: Desk) -> None:
    await add_claim(editor_desk.db, "Garlic stops the virus", [1, 2, 3], language="en")
    await add_claim(editor_desk.db, "El ajo detiene el virus", [4], language="es", media=True)
    html = await (await editor_desk.client.get("/")).text()
    assert "Garlic stops the virus" in html
    assert "El ajo detiene el virus" in html
    assert html.index("Garlic") < html.index("El ajo")  # more senders first

    only_spanish = await (await editor_desk.client.get("/?language=es")).text()
    assert "Garlic" not in only_spanish
    assert "El ajo" in only_spanish
    with_media = await (await editor_desk.client.get("/?media=yes")).text()
    assert "Garlic" not in with_media
    assert "El ajo" in with_media
    searched = await (await editor_desk.client.get("/?q=garlic")).text()
    assert "Garlic" in searched
    assert "El ajo" not in searched
    answered = await (await editor_desk.client.get("/?status=answered")).text()
    assert "Garlic" not in answered
    assert "No claims match these filters." in answered


async def test_queue_pages_through_many_claims(editor_desk: Desk) -> None:
    for number in range(30):
        await add_claim(editor_desk.db, f"Rumour number {number:02d}", [number + 1])
    first = await (await editor_desk.client.get("/")).text()
    second = await (await editor_desk.client.get("/?page=2")).text()
    assert first.count('class="claim-text"') == 25
    assert second.count('class="claim-text"') == 5
    assert 'rel="next"' in first
    assert 'rel="prev"' in second


async def test_live_refresh_returns_the_table_rows_for_the_same_filters(
    editor_desk: Desk,
) -> None:
    await add_claim(editor_desk.db, "Garlic stops the virus", [1], language="en")
    await add_claim(editor_desk.db, "Ajo contra el virus", [3], language="es")
    page = await (await editor_desk.client.get("/?language=en")).text()
    match = re.search(r'data-refresh-url="([^"]+)"', page)
    assert match is not None
    refresh_url = match[1].replace("&amp;", "&")
    assert refresh_url == "/queue/rows?language=en&fragment=1"
    await add_claim(editor_desk.db, "Onions stop the virus", [2], language="en")
    rows = await (await editor_desk.client.get(refresh_url)).text()
    assert "Onions stop the virus" in rows
    assert "Ajo contra" not in rows
    assert "<html" not in rows
    assert rows.lstrip().startswith("<tr")
    # Once the session is gone the same URL is refused, never redirected to a login page
    # that the script would paste into the table.
    assert await editor_desk.post("/logout") == 303
    response = await editor_desk.client.get(refresh_url, allow_redirects=False)
    assert response.status == 401


async def test_queue_filters_by_date_seen(editor_desk: Desk) -> None:
    await add_claim(editor_desk.db, "An old rumour", [1], hours_ago=72)
    await add_claim(editor_desk.db, "A fresh rumour", [2])
    since = (utcnow() - timedelta(days=1)).date().isoformat()
    html = await (await editor_desk.client.get(f"/?since={since}")).text()
    assert "A fresh rumour" in html
    assert "An old rumour" not in html
    assert f'value="{since}"' in html  # the filter stays filled in
    everything = await (await editor_desk.client.get("/?since=not-a-date")).text()
    assert "An old rumour" in everything


async def test_queue_filters_by_assignee(editor_desk: Desk) -> None:
    mine = await add_claim(editor_desk.db, "My claim", [1])
    await add_claim(editor_desk.db, "Nobody's claim", [2])
    other = await add_editor(editor_desk.db, "olga")
    assert await editor_desk.post(f"/claims/{mine}/assign") == 303
    html = await (await editor_desk.client.get("/?assignee=me")).text()
    assert "My claim" in html
    assert "Nobody&#39;s claim" not in html
    olga = await (await editor_desk.client.get(f"/?assignee={other}")).text()
    assert "My claim" not in olga
    assert "No claims match these filters." in olga


async def test_a_claim_number_finds_that_claim(editor_desk: Desk) -> None:
    wanted = await add_claim(editor_desk.db, "Claim to find by number", [1])
    await add_claim(editor_desk.db, "Another claim", [2])
    for query in (str(wanted), f"#{wanted}"):
        html = await (await editor_desk.client.get(f"/?q={quote(query)}")).text()
        assert "Claim to find by number" in html, query
        assert "Another claim" not in html, query
    missing = await (await editor_desk.client.get("/?q=%23999999")).text()
    assert "No claims match these filters." in missing
    source = await add_claim(editor_desk.db, "A duplicate", [3])
    page = await (await editor_desk.client.get(f"/claims/{source}?merge_q=%23{wanted}")).text()
    assert f"Merge into #{wanted}" in page
    itself = await (await editor_desk.client.get(f"/claims/{source}?merge_q={source}")).text()
    assert f"Merge into #{source}" not in itself


async def test_queue_page_loads_its_script_from_static_files(editor_desk: Desk) -> None:
    html = await (await editor_desk.client.get("/")).text()
    assert '<script src="/static/queue.js?v=' in html
    script = await editor_desk.client.get("/static/queue.js")
    assert script.status == 200
    assert "queue-rows" in await script.text()


async def test_sent_text_carries_its_own_language_and_direction(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "تناول الملح يحمي من الإشعاع", [1], language="ar")
    queue = await (await editor_desk.client.get("/")).text()
    assert f'<a href="/claims/{claim_id}" lang="ar" dir="auto">تناول الملح' in queue
    page = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert '<blockquote class="claim" lang="ar" dir="auto">' in page
    assert '<p class="tip-text" lang="ar" dir="auto">' in page


async def test_health_readiness_and_metrics_answer_without_login(desk: Desk) -> None:
    await add_claim(desk.db, "A claim", [1])
    assert (await desk.client.get("/healthz")).status == 200
    ready = await desk.client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"ready": True, "indexes": True, "database": True}
    metrics = await desk.client.get("/metrics")
    assert metrics.status == 200
    assert 'tipline_claims{status="new"} 1' in await metrics.text()


class _FormAudit(HTMLParser):
    """What a screen reader or keyboard user would trip over in a page's markup."""

    _CONTROLS = frozenset({"input", "select", "textarea"})
    _UNLABELLED_INPUTS = frozenset({"hidden", "submit", "button"})

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.controls: list[tuple[str, dict[str, str | None]]] = []
        self.label_targets: set[str] = set()
        self.problems: list[str] = []
        self._button_text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang")
        if tag == "label" and attributes.get("for"):
            self.label_targets.add(attributes["for"] or "")
        if tag in self._CONTROLS and attributes.get("type") not in self._UNLABELLED_INPUTS:
            self.controls.append((tag, attributes))
        if tag == "img" and "alt" not in attributes:
            self.problems.append(f"img without alt: {attributes.get('src')}")
        if int(attributes.get("tabindex") or 0) > 0:
            self.problems.append(f"positive tabindex on {tag}")
        if any(name.startswith("on") for name in attributes):
            self.problems.append(f"inline handler on {tag}: not reachable without a mouse")
        if tag == "button":
            self._button_text = []

    def handle_data(self, data: str) -> None:
        if self._button_text is not None:
            self._button_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button_text is not None:
            if not "".join(self._button_text).strip():
                self.problems.append("a button without text")
            self._button_text = None

    def unlabelled(self) -> list[str]:
        return [
            f"{tag} {attributes.get('name')}"
            for tag, attributes in self.controls
            if attributes.get("id") not in self.label_targets and not attributes.get("aria-label")
        ]


async def test_every_page_has_a_language_labelled_fields_and_real_buttons(desk: Desk) -> None:
    claim_id, fact_check_id = await _hostile_newsroom(desk)
    login = await (await desk.client.get("/login")).text()
    await add_editor(desk.db, "root", EditorRole.ADMIN)
    assert await desk.login("root") == 303
    pages = {"/login": login, **await _pages(desk, claim_id, fact_check_id)}
    checked_controls = 0
    for path, html in pages.items():
        audit = _FormAudit()
        audit.feed(html)
        if not path.startswith("/queue/rows"):  # a fragment of the queue page, not a page
            assert audit.lang == "en", path
        assert audit.unlabelled() == [], path
        assert audit.problems == [], path
        checked_controls += len(audit.controls)
    assert checked_controls > 30  # the filters, the claim's actions, the editors' forms...
