"""Every dashboard route in one place, with the least role that may use it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from dashboard import actions, auth, editors, library, queue, stats
from dashboard.app import PUBLIC

STATIC = Path(__file__).with_name("static")

# (method, path, handler, name, least role)
ROUTES = (
    ("GET", "/login", auth.login_form, "login_form", PUBLIC),
    ("POST", "/login", auth.login, "login", PUBLIC),
    ("POST", "/logout", auth.logout, "logout", "viewer"),
    ("GET", "/", queue.queue, "queue", "viewer"),
    ("GET", "/queue/rows", queue.queue_rows, "queue_rows", "viewer"),
    ("GET", r"/claims/{claim_id:\d+}", queue.claim_page, "claim", "viewer"),
    (
        "POST",
        r"/claims/{claim_id:\d+}/{action:[a-z-]+}",
        actions.claim_action,
        "claim_action",
        "editor",
    ),
    ("GET", "/factchecks", library.fact_checks, "fact_checks", "viewer"),
    ("POST", "/factchecks/import", library.import_fact_checks, "import_fact_checks", "editor"),
    ("GET", r"/factchecks/{fact_check_id:\d+}", library.fact_check, "fact_check", "viewer"),
    (
        "POST",
        r"/factchecks/{fact_check_id:\d+}",
        library.update_fact_check,
        "edit_fact_check",
        "editor",
    ),
    ("GET", "/stats", stats.statistics, "stats", "viewer"),
    ("GET", "/stats.csv", stats.statistics_csv, "stats_csv", "viewer"),
    ("GET", "/claims.csv", stats.claims_csv, "claims_csv", "viewer"),
    ("GET", "/editors", editors.editors, "editors", "admin"),
    ("POST", "/editors", editors.create_editor, "create_editor", "admin"),
    ("POST", r"/editors/{editor_id:\d+}", editors.change_editor, "change_editor", "admin"),
)


def add_routes(app: web.Application) -> dict[str, str]:
    """Register the routes under ``dashboard.<name>``; returns the access rules by route name."""
    rules = {"dashboard.static": PUBLIC}
    for method, path, handler, name, role in ROUTES:
        app.router.add_route(method, path, handler, name=f"dashboard.{name}")
        rules[f"dashboard.{name}"] = role
    app.router.add_static("/static/", STATIC, name="dashboard.static", append_version=True)
    return rules
