"""The desk's actions on a claim, from the dashboard: the same ``newsroom.desk`` functions the
Telegram desk calls, so the rules, the audit trail and the notifications are the same."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dashboard.app import DASHBOARD, current_editor, current_session, redirect, set_session
from newsroom import desk
from storage.db import Database

Action = Callable[[Database, desk.Actor, int, dict[str, str]], Awaitable[str]]


def _actor(request: web.Request) -> desk.Actor:
    editor = current_editor(request)
    return desk.Actor(
        editor_id=editor.id, name=editor.username, role=editor.role, source="dashboard"
    )


def _number(value: str | None) -> int | None:
    value = (value or "").strip().lstrip("#")
    return int(value) if value.isdigit() and len(value) < 10 else None


async def _assign(db: Database, actor: desk.Actor, claim_id: int, form: dict[str, str]) -> str:
    await desk.assign_claim(db, actor, claim_id, _number(form.get("editor_id")))
    return f"Claim #{claim_id} is in review."


async def _reject(db: Database, actor: desk.Actor, claim_id: int, form: dict[str, str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason:
        raise desk.DeskError("Say why the claim is rejected: the reason stays in its history.")
    await desk.reject_claim(db, actor, claim_id, reason)
    return f"Claim #{claim_id} is rejected."


async def _not_checkable(
    db: Database, actor: desk.Actor, claim_id: int, form: dict[str, str]
) -> str:
    await desk.mark_not_checkable(db, actor, claim_id, form.get("reason") or None)
    return f"Claim #{claim_id} is marked not checkable."


async def _reopen(db: Database, actor: desk.Actor, claim_id: int, form: dict[str, str]) -> str:
    await desk.reopen_claim(db, actor, claim_id)
    return f"Claim #{claim_id} is open again."


async def _merge(db: Database, actor: desk.Actor, claim_id: int, form: dict[str, str]) -> str:
    into = _number(form.get("into"))
    if into is None:
        raise desk.DeskError("Give the number of the claim to merge into.")
    await desk.merge_claims(db, actor, claim_id, into)
    return f"Claim #{claim_id} is merged into #{into}."


async def _answer(db: Database, actor: desk.Actor, claim_id: int, form: dict[str, str]) -> str:
    fact_check_id = _number(form.get("fact_check_id"))
    if fact_check_id is None:
        raise desk.DeskError("Choose a fact-check to answer the claim with.")
    result = await desk.attach_fact_check(db, actor, claim_id, fact_check_id)
    return (
        f"Claim #{claim_id} is answered; {result.notifications} "
        f"{'sender' if result.notifications == 1 else 'senders'} will be told."
    )


ACTIONS: dict[str, Action] = {
    "assign": _assign,
    "reject": _reject,
    "not-checkable": _not_checkable,
    "reopen": _reopen,
    "merge": _merge,
    "answer": _answer,
}


async def claim_action(request: web.Request) -> web.Response:
    """Run one desk action on a claim, then show the claim with what happened."""
    claim_id = _number(request.match_info["claim_id"])
    action = ACTIONS.get(request.match_info["action"])
    if claim_id is None or action is None:
        raise web.HTTPNotFound(text="No such action.")
    form = {key: str(value)[:1000] for key, value in (await request.post()).items()}
    try:
        message = await action(request.app[DASHBOARD].newsroom.db, _actor(request), claim_id, form)
    except desk.ClaimNotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except desk.NotAllowedError as exc:
        raise web.HTTPForbidden(text=str(exc)) from exc
    except desk.DeskError as exc:
        set_session(request, current_session(request).with_flash(f"Not done: {exc}"))
        return redirect(f"/claims/{claim_id}")
    set_session(request, current_session(request).with_flash(message))
    if action is _merge:
        return redirect(f"/claims/{_number(form.get('into'))}")
    return redirect(f"/claims/{claim_id}")
