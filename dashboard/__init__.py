"""The editors' web dashboard: server-rendered pages on the tip line's one aiohttp server."""

from __future__ import annotations

from datetime import datetime

import jinja2
from aiohttp import web

from dashboard.app import DASHBOARD, Dashboard, ephemeral_secret_key, security_middleware
from dashboard.routes import add_routes
from dashboard.sessions import SessionCodec
from newsroom.context import Newsroom

__all__ = ["security_middleware", "setup_dashboard"]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _safe_href(url: str | None) -> str:
    """Only http(s) links: a ``javascript:`` URL in an imported record must not become one."""
    return url if url and url.lower().startswith(("https://", "http://")) else "#"


def _templates(app: web.Application) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["safe_href"] = _safe_href
    environment.globals["static"] = lambda path: app.router["dashboard.static"].url_for(
        filename=path
    )
    return environment


def setup_dashboard(
    app: web.Application,
    newsroom: Newsroom,
    *,
    secret_key: str | None,
    allow_private_urls: bool = False,
) -> None:
    """Mount the dashboard on ``app`` (whose middlewares must include ``security_middleware``)."""
    app[DASHBOARD] = Dashboard(
        newsroom=newsroom,
        codec=SessionCodec(secret_key or ephemeral_secret_key()),
        templates=_templates(app),
        rules=add_routes(app),
        allow_private_urls=allow_private_urls,
    )
