"""The one aiohttp server: health, readiness, metrics and the dashboard; the webhook mounts here."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from bot.settings import Settings
from dashboard import security_middleware, setup_dashboard
from newsroom.context import Newsroom
from storage.stats import collect_stats

NEWSROOM = web.AppKey("newsroom", Newsroom)


async def healthz(request: web.Request) -> web.Response:
    """The process is alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and the matching indexes are loaded."""
    newsroom = request.app[NEWSROOM]
    checks = {"indexes": newsroom.indexes.loaded}
    try:
        async with newsroom.db.session() as session:
            await session.exec(text("SELECT 1"))
        checks["database"] = True
    except Exception:
        checks["database"] = False
    status = 200 if all(checks.values()) else 503
    return web.json_response({"ready": status == 200, **checks}, status=status)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: the counts the newsroom and ops watch."""
    newsroom = request.app[NEWSROOM]
    async with newsroom.db.session() as session:
        counts = await collect_stats(session)
    lines = [
        "# TYPE tipline_tips gauge",
        f"tipline_tips {counts['tips']}",
        "# TYPE tipline_reporters gauge",
        f"tipline_reporters {counts['reporters']}",
        "# TYPE tipline_fact_checks gauge",
        f"tipline_fact_checks {counts['fact_checks']}",
        "# TYPE tipline_claims gauge",
        *(f'tipline_claims{{status="{s}"}} {n}' for s, n in counts["claims"].items()),
        "# TYPE tipline_outbox_messages gauge",
        *(f'tipline_outbox_messages{{status="{s}"}} {n}' for s, n in counts["outbox"].items()),
        "# TYPE tipline_index_size gauge",
        f'tipline_index_size{{index="fact_checks"}} {len(newsroom.indexes.fact_checks)}',
        f'tipline_index_size{{index="claims"}} {len(newsroom.indexes.claims)}',
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


# Fact-check files uploaded on the dashboard are the largest bodies we accept.
MAX_BODY_BYTES = 8 * 1024**2


def build_web_app(newsroom: Newsroom, settings: Settings | None = None) -> web.Application:
    """Health, readiness, metrics, and the editors' dashboard under ``/``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[security_middleware])
    app[NEWSROOM] = newsroom
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    secret = settings.secret_key if settings is not None else None
    setup_dashboard(
        app,
        newsroom,
        secret_key=secret.get_secret_value() if secret is not None else None,
        allow_private_urls=settings.allow_private_urls if settings is not None else False,
    )
    return app
