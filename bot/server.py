"""The one aiohttp server: health, readiness, metrics and the dashboard; the webhook mounts here."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from bot.metrics import CONTENT_TYPE_LATEST, TiplineMetrics
from bot.settings import Settings
from dashboard import security_middleware, setup_dashboard
from newsroom.context import Newsroom
from storage.stats import collect_stats

NEWSROOM = web.AppKey("newsroom", Newsroom)
METRICS = web.AppKey("metrics", TiplineMetrics)


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


async def prometheus_metrics(request: web.Request) -> web.Response:
    """Prometheus text format: this process's counters, and the database's counts read now."""
    newsroom = request.app[NEWSROOM]
    meter = request.app[METRICS]
    async with newsroom.db.session() as session:
        counts = await collect_stats(session)
    fact_checks, claims = await newsroom.indexes.sizes()
    meter.set_stored_counts(counts, {"fact_checks": fact_checks, "claims": claims})
    return web.Response(body=meter.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


# Fact-check files uploaded on the dashboard are the largest bodies we accept.
MAX_BODY_BYTES = 8 * 1024**2


def build_web_app(
    newsroom: Newsroom, settings: Settings | None = None, metrics: TiplineMetrics | None = None
) -> web.Application:
    """Health, readiness, metrics, and the editors' dashboard under ``/``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[security_middleware])
    app[NEWSROOM] = newsroom
    app[METRICS] = metrics or TiplineMetrics()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus_metrics)
    secret = settings.secret_key if settings is not None else None
    setup_dashboard(
        app,
        newsroom,
        secret_key=secret.get_secret_value() if secret is not None else None,
        allow_private_urls=settings.allow_private_urls if settings is not None else False,
    )
    return app
