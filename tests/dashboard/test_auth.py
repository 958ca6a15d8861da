"""Logging in, sessions, lockout, CSRF and security headers, on both databases."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, Desk, add_claim, add_editor, add_fact_check
from sqlmodel import select

from dashboard.app import PUBLIC, ROLE_RANK
from dashboard.routes import ROUTES
from dashboard.sessions import COOKIE_NAME
from storage.models import AuditEvent, Claim, ClaimStatus, Editor, EditorRole, FactCheck

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


def _url(pattern: str, ids: dict[str, int]) -> str:
    """A concrete URL for a route pattern such as ``/claims/{claim_id:\\d+}/{action:...}``."""
    return re.sub(
        r"\{(\w+)(?::[^}]*)?\}",
        lambda match: "assign" if match[1] == "action" else str(ids[match[1]]),
        pattern,
    )


async def _newsroom_ids(desk: Desk) -> dict[str, int]:
    return {
        "claim_id": await add_claim(desk.db, "A claim", [1]),
        "fact_check_id": await add_fact_check(desk.db),
        "editor_id": await add_editor(desk.db, "someone"),
    }


async def test_every_route_but_login_needs_a_session(desk: Desk) -> None:
    ids = await _newsroom_ids(desk)
    for method, pattern, _, name, role in ROUTES:
        url = _url(pattern, ids)
        response = await desk.client.request(method, url, data={}, allow_redirects=False)
        if role == PUBLIC:
            assert name in ("login_form", "login"), name
            continue
        if method == "GET":
            assert response.status == 303, url
            assert response.headers["Location"].startswith("/login?next="), url
        else:
            assert response.status == 401, (method, url)


@pytest.mark.parametrize("token", [None, "", "forged"])
async def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    desk: Desk, token: str | None
) -> None:
    ids = await _newsroom_ids(desk)
    await add_editor(desk.db, "root", EditorRole.ADMIN)
    assert await desk.login("root") == 303
    data = {} if token is None else {"csrf_token": token}
    posts = [(pattern, name) for method, pattern, _, name, _ in ROUTES if method == "POST"]
    assert len(posts) >= 7
    for pattern, name in posts:
        url = _url(pattern, ids)
        form = {**data, "username": "root", "password": PASSWORD, "claim_reviewed": "changed"}
        response = await desk.client.post(url, data=form, allow_redirects=False)
        assert response.status == 403, name
    async with desk.db.session() as session:
        assert (await session.exec(select(AuditEvent))).all() == []
        claim = await session.get_one(Claim, ids["claim_id"])
        fact_check = await session.get_one(FactCheck, ids["fact_check_id"])
    assert claim.status == ClaimStatus.NEW
    assert fact_check.claim_reviewed != "changed"
    assert (await desk.client.get("/", allow_redirects=False)).status == 200  # still logged in


# The least role of every route, written out here rather than read from ROUTES, so that
# loosening a rule in dashboard/routes.py fails this test (and a new route must be added).
LEAST_ROLE = {
    "logout": "viewer",
    "queue": "viewer",
    "queue_rows": "viewer",
    "claim": "viewer",
    "fact_checks": "viewer",
    "fact_check": "viewer",
    "stats": "viewer",
    "stats_csv": "viewer",
    "claims_csv": "viewer",
    "claim_action": "editor",
    "import_fact_checks": "editor",
    "edit_fact_check": "editor",
    "editors": "admin",
    "create_editor": "admin",
    "change_editor": "admin",
}


@pytest.mark.parametrize("role", list(EditorRole))
async def test_each_role_reaches_exactly_the_routes_it_may(desk: Desk, role: EditorRole) -> None:
    assert {name for *_, name, needed in ROUTES if needed != PUBLIC} == set(LEAST_ROLE)
    ids = await _newsroom_ids(desk)
    await add_editor(desk.db, f"a-{role.value}", role)
    assert await desk.login(f"a-{role.value}") == 303
    for method, pattern, _, name, needed in ROUTES:
        if needed == PUBLIC:
            continue
        url = _url(pattern, ids)
        allowed = ROLE_RANK[role.value] >= ROLE_RANK[LEAST_ROLE[name]]
        if method == "GET":
            response = await desk.client.get(url, allow_redirects=False)
            assert response.status == (200 if allowed else 403), (role, url)
        elif not allowed:
            assert await desk.post(url, {"claim_reviewed": "changed"}) == 403, (role, name)
    async with desk.db.session() as session:
        assert (await session.exec(select(AuditEvent))).all() == []
