"""Logging in, sessions, lockout, CSRF and security headers, on both databases."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, Desk, add_claim, add_editor
from sqlmodel import select

from dashboard.sessions import COOKIE_NAME
from storage.models import AuditEvent, Editor, EditorRole

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAGES = ["/", "/queue/rows", "/claims/1", "/factchecks", "/factchecks/1", "/stats"]
CSV = ["/stats.csv", "/claims.csv"]


async def test_every_page_sends_a_visitor_to_the_login_form(desk: Desk) -> None:
    for path in [*PAGES, *CSV, "/editors"]:
        response = await desk.client.get(path, allow_redirects=False)
        if path == "/queue/rows":
            assert response.status == 303 or response.status == 401, path
            continue
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next="), path


async def test_live_refresh_without_a_session_is_unauthorised(desk: Desk) -> None:
    response = await desk.client.get("/queue/rows?fragment=1", allow_redirects=False)
    assert response.status == 401


async def test_forms_without_a_session_are_refused(desk: Desk) -> None:
    claim_id = await add_claim(desk.db, "A claim", [1])
    for path in (f"/claims/{claim_id}/assign", "/factchecks/import", "/editors", "/logout"):
        response = await desk.client.post(path, data={}, allow_redirects=False)
        assert response.status == 401, path


async def test_right_password_opens_the_queue(desk: Desk) -> None:
    await add_editor(desk.db, "alice")
    assert await desk.login("alice") == 303
    response = await desk.client.get("/")
    assert response.status == 200
    assert "alice" in await response.text()


async def test_wrong_password_is_refused_and_counted(desk: Desk) -> None:
    editor_id = await add_editor(desk.db, "bob")
    assert await desk.login("bob", "not the password") == 401
    assert await desk.login("nobody", PASSWORD) == 401
    response = await desk.client.get("/", allow_redirects=False)
    assert response.status == 303
    async with desk.db.session() as session:
        editor = await session.get_one(Editor, editor_id)
    assert editor.failed_logins == 1


async def test_five_failures_lock_the_account_even_against_the_right_password(
    desk: Desk,
) -> None:
    editor_id = await add_editor(desk.db, "carol")
    for _ in range(5):
        assert await desk.login("carol", "guess") == 401
    assert await desk.login("carol") == 401
    async with desk.db.session() as session:
        editor = await session.get_one(Editor, editor_id)
    assert editor.locked_until is not None


async def test_a_successful_login_resets_the_failure_count(desk: Desk) -> None:
    editor_id = await add_editor(desk.db, "dave")
    for _ in range(4):
        await desk.login("dave", "guess")
    assert await desk.login("dave") == 303
    async with desk.db.session() as session:
        editor = await session.get_one(Editor, editor_id)
    assert editor.failed_logins == 0


async def test_login_without_csrf_token_is_refused(desk: Desk) -> None:
    await add_editor(desk.db, "erin")
    await desk.client.get("/login")
    response = await desk.client.post(
        "/login", data={"username": "erin", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403


async def test_action_with_a_wrong_csrf_token_is_refused(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "A claim", [1])
    response = await editor_desk.client.post(
        f"/claims/{claim_id}/assign", data={"csrf_token": "forged"}, allow_redirects=False
    )
    assert response.status == 403
    async with editor_desk.db.session() as session:
        events = (await session.exec(select(AuditEvent))).all()
    assert events == []


async def test_a_form_posted_from_another_site_is_refused(editor_desk: Desk) -> None:
    claim_id = await add_claim(editor_desk.db, "A claim", [1])
    status = await editor_desk.post(
        f"/claims/{claim_id}/assign", headers={"Origin": "https://evil.example"}
    )
    assert status == 403


async def test_session_cookie_is_encrypted_httponly_and_samesite(desk: Desk) -> None:
    await add_editor(desk.db, "frank")
    token = await desk.csrf("/login")
    response = await desk.client.post(
        "/login",
        data={"username": "frank", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert "frank" not in cookie.value
    assert token not in cookie.value


async def test_a_tampered_cookie_is_no_session(editor_desk: Desk) -> None:
    jar = editor_desk.client.session.cookie_jar
    value = next(c.value for c in jar if c.key == COOKIE_NAME)
    tampered = value[:-8] + ("A" * 8 if value[-8:] != "A" * 8 else "B" * 8)
    jar.clear()
    jar.update_cookies({COOKIE_NAME: tampered}, editor_desk.client.make_url("/"))
    response = await editor_desk.client.get("/", allow_redirects=False)
    assert response.status == 303
    jar.clear()
    jar.update_cookies({COOKIE_NAME: value}, editor_desk.client.make_url("/"))
    response = await editor_desk.client.get("/", allow_redirects=False)
    assert response.status == 200


async def test_login_never_redirects_to_another_site(desk: Desk) -> None:
    await add_editor(desk.db, "gina")
    token = await desk.csrf("/login")
    response = await desk.client.post(
        "/login",
        data={
            "username": "gina",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/"


async def test_logout_ends_the_session(editor_desk: Desk) -> None:
    assert await editor_desk.post("/logout") == 303
    response = await editor_desk.client.get("/", allow_redirects=False)
    assert response.status == 303


async def test_a_deactivated_editor_is_logged_out(editor_desk: Desk) -> None:
    async with editor_desk.db.session() as session:
        editor = (await session.exec(select(Editor).where(Editor.username == "ed"))).one()
        editor.active = False
        session.add(editor)
    response = await editor_desk.client.get("/", allow_redirects=False)
    assert response.status == 303


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/app.css"])
async def test_security_headers_everywhere(desk: Desk, path: str) -> None:
    response = await desk.client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


async def test_pages_are_not_cached_and_carry_no_inline_script(editor_desk: Desk) -> None:
    response = await editor_desk.client.get("/")
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    assert "<script>" not in html
    assert "onclick" not in html
    assert "style=" not in html


async def test_admin_role_is_needed_for_the_editors_page(editor_desk: Desk) -> None:
    response = await editor_desk.client.get("/editors", allow_redirects=False)
    assert response.status == 403


async def test_an_admin_adds_an_editor_who_can_then_log_in(desk: Desk) -> None:
    await add_editor(desk.db, "root", EditorRole.ADMIN)
    assert await desk.login("root") == 303
    status = await desk.post(
        "/editors", {"username": "newbie", "password": "a long enough password", "role": "viewer"}
    )
    assert status == 303
    assert "newbie" in await (await desk.client.get("/editors")).text()
    assert await desk.post("/logout") == 303
    assert await desk.login("newbie", "a long enough password") == 303
