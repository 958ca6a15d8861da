"""The dashboard's plumbing: its state, sessions, access rules, CSRF and security headers.

Every dashboard route is named ``dashboard.<page>`` and declares the least role that may
use it; a route missing from the rules needs an admin, so forgetting one fails closed.
Routes of the rest of the server (health, metrics, webhook) pass through untouched apart
from the security headers.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from aiohttp import web

from dashboard.sessions import COOKIE_NAME, Session, SessionCodec
from newsroom.context import Newsroom
from storage.dashboard import get_editor
from storage.models import Editor

__all__ = [
    "DASHBOARD",
    "ROLE_RANK",
    "Dashboard",
    "current_editor",
    "current_session",
    "redirect",
    "render",
    "security_middleware",
    "set_session",
]

log = logging.getLogger(__name__)

ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}
PUBLIC = "public"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Dashboard:
    """What the dashboard's views share, built once by :func:`dashboard.setup_dashboard`."""

    newsroom: Newsroom
    codec: SessionCodec
    templates: jinja2.Environment
    rules: dict[str, str]
    allow_private_urls: bool = False


DASHBOARD = web.AppKey("dashboard", Dashboard)
_SESSION = web.RequestKey("dashboard_session", Session)
_ORIGINAL = web.RequestKey("dashboard_original_session", Session)
_EDITOR = web.RequestKey("dashboard_editor", Editor)


def current_session(request: web.Request) -> Session:
    return request[_SESSION]


def set_session(request: web.Request, session: Session) -> None:
    """Replace the session; the middleware writes the cookie on the way out."""
    request[_SESSION] = session


def current_editor(request: web.Request) -> Editor:
    """The logged-in editor (views behind a role rule always have one)."""
    return request[_EDITOR]


def redirect(location: str) -> web.Response:
    """303 See Other: after a form, the browser follows with a GET."""
    return web.Response(status=303, headers={"Location": location})


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page, with the editor, CSRF token and one-shot message every layout needs."""
    dashboard = request.app[DASHBOARD]
    session = current_session(request)
    if session.flash:
        set_session(request, session.with_flash(None))
    editor = request.get(_EDITOR)
    body = dashboard.templates.get_template(template).render(
        editor=editor,
        can_act=editor is not None and ROLE_RANK.get(editor.role, -1) >= ROLE_RANK["editor"],
        is_admin=editor is not None and editor.role == "admin",
        csrf_token=session.csrf_token,
        flash=session.flash,
        path=request.path,
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on POST; one naming another site is a cross-site request."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    token = request.headers.get("X-CSRF-Token")
    if token is None:
        form = await request.post()
        value = form.get("csrf_token")
        token = value if isinstance(value, str) else None
    return (
        token is not None
        and hmac.compare_digest(token.encode(), session.csrf_token.encode())
        and _same_origin(request)
    )


async def _load_editor(dashboard: Dashboard, session: Session) -> Editor | None:
    if session.editor_id is None:
        return None
    async with dashboard.newsroom.db.session() as db_session:
        editor = await get_editor(db_session, session.editor_id)
    return editor if editor is not None and editor.active else None


def _wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "fragment" not in request.query


async def _guarded(
    request: web.Request, handler: Handler, dashboard: Dashboard
) -> web.StreamResponse:
    name = request.match_info.route.name or ""
    needed = dashboard.rules.get(name, "admin")
    decoded = dashboard.codec.decode(request.cookies.get(COOKIE_NAME))
    original = decoded or Session()
    # A new visitor's session differs from "no session", so its cookie gets written.
    request[_ORIGINAL] = original if decoded is not None else Session(csrf_token="")
    request[_SESSION] = original
    editor = await _load_editor(dashboard, original)
    if editor is None and original.editor_id is not None:
        request[_SESSION] = Session()  # the account was deactivated or removed
    if editor is not None:
        request[_EDITOR] = editor
    if needed != PUBLIC:
        if editor is None:
            if _wants_html(request):
                return redirect("/login?" + urlencode({"next": request.rel_url.path_qs}))
            raise web.HTTPUnauthorized(text="Log in first.")
        if ROLE_RANK.get(editor.role, -1) < ROLE_RANK[needed]:
            raise web.HTTPForbidden(text="Your role does not allow this.")
    if request.method in _UNSAFE_METHODS and not await _csrf_ok(request, request[_SESSION]):
        log.warning("refused a dashboard form without a valid CSRF token: %s", request.path)
        raise web.HTTPForbidden(text="This form has expired. Reload the page and try again.")
    return await handler(request)


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every response; sessions, roles and CSRF on dashboard routes."""
    dashboard = request.app.get(DASHBOARD)
    name = request.match_info.route.name or ""
    try:
        if dashboard is None or not name.startswith("dashboard."):
            response = await handler(request)
        else:
            response = await _guarded(request, handler, dashboard)
            session = request[_SESSION]
            if session != request[_ORIGINAL]:
                dashboard.codec.store(request, response, session)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    if name.startswith("dashboard.") and name != "dashboard.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def ephemeral_secret_key() -> str:
    """A key for this process only: fine for one worker, but logins end at restart."""
    log.warning(
        "TIPLINE_SECRET_KEY is not set: dashboard sessions use a random key and end when the "
        "process stops; set it (the same on every worker) for lasting logins"
    )
    return secrets.token_urlsafe(32)
