"""The desk's actions from the dashboard: the same newsroom functions, audit trail and outbox."""

from __future__ import annotations

import pytest
from conftest import Desk, add_claim, add_editor, add_fact_check
from sqlmodel import select

from storage.models import AuditEvent, Claim, ClaimStatus, EditorRole, OutboxMessage

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _claim(desk: Desk, claim_id: int) -> Claim:
    async with desk.db.session() as session:
        return await session.get_one(Claim, claim_id)


async def _audit(desk: Desk, claim_id: int) -> list[AuditEvent]:
    async with desk.db.session() as session:
        rows = await session.exec(select(AuditEvent).where(AuditEvent.claim_id == claim_id))
        return list(rows.all())


async def test_assign_puts_the_claim_in_review_with_the_editor(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "A claim", [1])
    assert await editor_desk.post(f"/claims/{claim_id}/assign") == 303
    claim = await _claim(editor_desk, claim_id)
    assert claim.status == ClaimStatus.IN_REVIEW
    assert claim.assignee_id is not None
    (event,) = await _audit(editor_desk, claim_id)
    assert (event.actor, event.action, event.source) == ("ed", "assign", "dashboard")
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert "is in review" in html
    assert "via dashboard" in html


async def test_answering_a_claim_fills_the_outbox_for_every_sender(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "A claim", [101, 102, 103])
    fact_check_id = await add_fact_check(editor_desk.db)
    status = await editor_desk.post(
        f"/claims/{claim_id}/answer", {"fact_check_id": str(fact_check_id)}
    )
    assert status == 303
    claim = await _claim(editor_desk, claim_id)
    assert (claim.status, claim.fact_check_id) == (ClaimStatus.ANSWERED, fact_check_id)
    async with editor_desk.db.session() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
    assert sorted(message.chat_id for message in outbox) == [101, 102, 103]
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert "3 senders will be told" in html
    library = await (await editor_desk.client.get(f"/factchecks/{fact_check_id}")).text()
    assert "people reached: 3" in library


async def test_reject_needs_a_reason_and_reopen_brings_the_claim_back(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "Spam spam spam", [1])
    assert await editor_desk.post(f"/claims/{claim_id}/reject", {"reason": ""}) == 303
    assert (await _claim(editor_desk, claim_id)).status == ClaimStatus.NEW
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert "Not done: Say why" in html

    assert await editor_desk.post(f"/claims/{claim_id}/reject", {"reason": "spam"}) == 303
    claim = await _claim(editor_desk, claim_id)
    assert (claim.status, claim.status_reason) == (ClaimStatus.REJECTED, "spam")
    assert await editor_desk.post(f"/claims/{claim_id}/reopen") == 303
    assert (await _claim(editor_desk, claim_id)).status == ClaimStatus.NEW
    actions = [event.action for event in await _audit(editor_desk, claim_id)]
    assert actions == ["rejected", "reopen"]


async def test_not_checkable_closes_the_claim(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "It will rain next year", [1])
    assert await editor_desk.post(f"/claims/{claim_id}/not-checkable", {"reason": "a guess"}) == 303
    assert (await _claim(editor_desk, claim_id)).status == ClaimStatus.NOT_CHECKABLE


async def test_a_forbidden_transition_is_explained_not_crashed(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "A new claim", [1])
    assert await editor_desk.post(f"/claims/{claim_id}/reopen") == 303
    html = await (await editor_desk.client.get(f"/claims/{claim_id}")).text()
    assert "Not done:" in html


async def test_merge_moves_the_claim_into_the_one_found_by_search(editor_desk: Desk) -> None:
    source = await add_claim(editor_desk.db, "5G towers spread the virus", [1])
    target = await add_claim(editor_desk.db, "Phone masts spread the virus", [2, 3])
    html = await (await editor_desk.client.get(f"/claims/{source}?merge_q=masts")).text()
    assert f"Merge into #{target}" in html
    response = await editor_desk.client.post(
        f"/claims/{source}/merge",
        data={"into": str(target), "csrf_token": await editor_desk.csrf("/")},
        allow_redirects=False,
    )
    assert response.headers["Location"] == f"/claims/{target}"
    merged = await _claim(editor_desk, source)
    assert (merged.status, merged.merged_into_id) == (ClaimStatus.MERGED, target)


async def test_a_viewer_reads_but_cannot_act(desk: Desk) -> None:
    await add_editor(desk.db, "vic", EditorRole.VIEWER)
    assert await desk.login("vic") == 303
    claim_id = await add_claim(desk.db, "A claim", [1])
    fact_check_id = await add_fact_check(desk.db)
    html = await (await desk.client.get(f"/claims/{claim_id}")).text()
    assert "Actions" not in html
    forms = {
        "assign": {},
        "reject": {"reason": "no"},
        "not-checkable": {},
        "reopen": {},
        "merge": {"into": str(claim_id)},
        "answer": {"fact_check_id": str(fact_check_id)},
    }
    for action, data in forms.items():
        assert await desk.post(f"/claims/{claim_id}/{action}", data) == 403, action
    assert await desk.post(f"/factchecks/{fact_check_id}", {"claim_reviewed": "x"}) == 403
    assert await desk.post("/factchecks/import", {"url": "https://example.org/"}) == 403
    assert (await _claim(desk, claim_id)).status == ClaimStatus.NEW
    assert await _audit(desk, claim_id) == []


async def test_an_unknown_action_is_not_found(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "A claim", [1])
    assert await editor_desk.post(f"/claims/{claim_id}/delete") == 404
