"""Every page renders real rows, escapes hostile text, and never shows who sent a tip."""

from __future__ import annotations

import pytest
from conftest import HOSTILE, SENDER_ID, Desk, add_claim, add_editor, add_fact_check

from storage.models import EditorRole

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
        if path not in ("/editors", "/stats", "/queue/rows", "/", "/factchecks"):
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
    page = await (await editor_desk.client.get("/?language=en")).text()
    assert 'data-refresh-url="/queue/rows?language=en"' in page
    await add_claim(editor_desk.db, "Onions stop the virus", [2], language="en")
    rows = await (await editor_desk.client.get("/queue/rows?language=en")).text()
    assert "Onions stop the virus" in rows
    assert "<html" not in rows
    assert rows.lstrip().startswith("<tr")


async def test_queue_page_loads_its_script_from_static_files(editor_desk: Desk) -> None:
    html = await (await editor_desk.client.get("/")).text()
    assert '<script src="/static/queue.js?v=' in html
    script = await editor_desk.client.get("/static/queue.js")
    assert script.status == 200
    assert "queue-rows" in await script.text()


async def test_health_and_metrics_still_answer_without_login(desk: Desk) -> None:
    assert (await desk.client.get("/healthz")).status == 200
    assert (await desk.client.get("/metrics")).status == 200
