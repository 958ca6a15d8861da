"""Logging in and out: argon2 passwords, a lockout after repeated failures, fresh sessions."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import cache

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard.app import DASHBOARD, redirect, render, set_session
from dashboard.sessions import Session
from storage.dashboard import record_failed_login, record_successful_login
from storage.db import Database
from storage.editors import get_editor_by_username
from storage.models import Editor
from storage.types import utcnow

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
_REFUSED = (
    "Wrong username or password. After 5 failed attempts the account is locked for 15 minutes."
)


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash("an unknown username costs as much time as a known one")


def hash_password(password: str) -> str:
    """An argon2 hash, as ``tipline editors add`` stores (slow on purpose: call in a thread)."""
    return _hasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(db: Database, username: str, password: str) -> Editor | None:
    """The editor these credentials belong to, or None; failures count towards a lockout."""
    async with db.session() as session:
        editor = await get_editor_by_username(session, username)
    if editor is None or not editor.active or editor.password_hash is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        return None
    if editor.locked_until is not None and editor.locked_until > utcnow():
        log.warning("login refused: editor %s is locked out", editor.id)
        return None
    valid = await asyncio.to_thread(_verify, editor.password_hash, password)
    async with db.session() as session:
        if valid:
            await record_successful_login(session, editor.id or 0)
            return editor
        failed = await record_failed_login(
            session, editor.id or 0, limit=MAX_FAILED_LOGINS, lock_for=LOCKOUT
        )
    log.warning("login failed for editor %s (%d in a row)", editor.id, failed.failed_logins)
    return None


def _local_path(target: str | None) -> str:
    """Only paths on this site: ``next=//evil.example`` must not send anyone away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_form(request: web.Request) -> web.Response:
    """The login page."""
    return render(request, "login.html", next=_local_path(request.query.get("next")))


async def login(request: web.Request) -> web.Response:
    """Check the credentials; on success start a new session and go where the editor was going."""
    form = await request.post()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:1024]
    target = _local_path(str(form.get("next", "/")))
    editor = await authenticate(request.app[DASHBOARD].newsroom.db, username, password)
    if editor is None:
        return render(
            request, "login.html", status=401, error=_REFUSED, next=target, username=username
        )
    set_session(request, Session.for_editor(editor.id or 0))
    return redirect(target)


async def logout(request: web.Request) -> web.Response:
    """End the session (a POST with the CSRF token, so no other site can log anyone out)."""
    set_session(request, Session().with_flash("You are logged out."))
    return redirect("/login")
