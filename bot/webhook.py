"""``POST /telegram/webhook``: Telegram's delivery of updates, answered in the 200.

Telegram retries any delivery that does not get a 2xx, so the answer is 200 only after the
update is committed and handled; the sender's reply travels in that 200's body (a Bot API
call Telegram makes when it takes the response), so a crash before it costs nothing but a
redelivery, and no reply is sent twice. Forged, oversized and malformed requests are refused
before anything is written.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, Update

from bot.updates import UpdateBusyError, UpdatePipeline

__all__ = ["MAX_UPDATE_BYTES", "SECRET_HEADER", "WEBHOOK_PATH", "add_webhook_route"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# A Telegram update is a few kilobytes; a message is at most 4096 characters.
MAX_UPDATE_BYTES = 256 * 1024


def _read_update(payload: Any, bot: Bot) -> Update | None:
    """The update, if ``payload`` is an object with a non-negative integer ``update_id`` that
    PTB can read; read once, here, for the handlers too."""
    if not isinstance(payload, dict):
        return None
    update_id = payload.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        return None
    if update_id >= 2**63:
        return None
    try:
        return Update.de_json(payload, bot)
    except Exception:  # any shape PTB cannot read is garbage to us, whatever it raises
        return None


def add_webhook_route(app: web.Application, pipeline: UpdatePipeline, secret: str) -> None:
    """Mount the webhook on the one aiohttp server; ``secret`` is required and never empty."""
    if not secret:
        raise ValueError("the webhook needs a secret token")
    expected = secret.encode()

    async def receive_update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=401, text="unauthorised")
        if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
            return web.Response(status=413, text="update too large")
        body = await request.content.read(MAX_UPDATE_BYTES + 1)
        if len(body) > MAX_UPDATE_BYTES:
            return web.Response(status=413, text="update too large")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        update = _read_update(payload, pipeline.application.bot)
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        try:
            answer = await pipeline.handle_delivery(payload, update)
        except UpdateBusyError:
            return web.Response(status=503, text="try again later")
        except (SQLAlchemyError, OSError) as error:
            log.warning(
                "webhook: database unavailable (%s); Telegram will retry", type(error).__name__
            )
            return web.Response(status=503, text="try again later")
        if answer is None:
            return web.Response(status=200)
        return web.json_response(answer)

    app.router.add_post(WEBHOOK_PATH, receive_update)
