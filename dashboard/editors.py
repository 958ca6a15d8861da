"""Managing the newsroom's editors (admins only): add, change role, deactivate, unlock."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dashboard.app import DASHBOARD, current_editor, current_session, redirect, render, set_session
from dashboard.auth import hash_password
from storage.dashboard import list_editors, set_editor_access
from storage.editors import EditorExistsError, add_editor
from storage.models import EditorRole

MIN_PASSWORD = 12


def _flash(request: web.Request, message: str) -> web.Response:
    set_session(request, current_session(request).with_flash(message))
    return redirect("/editors")


async def editors(request: web.Request) -> web.Response:
    """Who may log in, with which role."""
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        rows = await list_editors(session)
    return render(request, "editors.html", rows=rows, roles=[r.value for r in EditorRole])


async def create_editor(request: web.Request) -> web.Response:
    """Add an editor with a password (the same as ``tipline editors add``)."""
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    role = str(form.get("role", EditorRole.EDITOR))
    if not username or len(username) > 64 or role not in {r.value for r in EditorRole}:
        return _flash(request, "Give a username (at most 64 characters) and a role.")
    if len(password) < MIN_PASSWORD:
        return _flash(request, f"The password needs at least {MIN_PASSWORD} characters.")
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with request.app[DASHBOARD].newsroom.db.session() as session:
            await add_editor(
                session, username=username, password_hash=password_hash, role=EditorRole(role)
            )
    except EditorExistsError:
        return _flash(request, f"There is already an editor called {username}.")
    return _flash(request, f"{username} can now log in as {role}.")


async def change_editor(request: web.Request) -> web.Response:
    """Change an editor's role, deactivate or reactivate them, or lift a lockout."""
    editor_id = int(request.match_info["editor_id"])
    form = await request.post()
    role = str(form.get("role", "")) or None
    if role is not None and role not in {r.value for r in EditorRole}:
        return _flash(request, "Unknown role.")
    active = {"yes": True, "no": False}.get(str(form.get("active", "")))
    if editor_id == current_editor(request).id and (active is False or role not in (None, "admin")):
        return _flash(request, "You cannot remove your own admin access.")
    async with request.app[DASHBOARD].newsroom.db.session() as session:
        editor = await set_editor_access(
            session, editor_id, role=role, active=active, unlock=form.get("unlock") == "yes"
        )
    if editor is None:
        raise web.HTTPNotFound(text="No such editor.")
    return _flash(request, f"{editor.username}: saved.")
