"""A bare python-telegram-bot echo bot: the ceiling the tip line's throughput is compared with.

No database, no matching: each private message is answered with its own text (or caption)
through the same Bot API calls the tip line makes, with the same concurrency (16 updates at
once). Webhook mode is a minimal aiohttp endpoint that hands the update to PTB's queue;
polling mode is PTB's own Updater. Run by bench/throughput.py as a subprocess:

    python bench/echo_bot.py --api-url URL --token TOKEN --mode webhook --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
CONCURRENCY = 16


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers a message with its own words."""
    message = update.effective_message
    await message.reply_text(message.text or message.caption or "(media)")


def _webhook_app(application: Application, secret: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != secret:
            return web.Response(status=401)
        payload = json.loads(await request.read())
        await application.update_queue.put(Update.de_json(payload, application.bot))
        return web.Response(status=200)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/telegram/webhook", receive)
    app.router.add_get("/healthz", healthz)
    return app


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    application = (
        Application.builder()
        .token(args.token)
        .base_url(args.api_url)
        .concurrent_updates(CONCURRENCY)
        .build()
    )
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE, echo))
    runner = web.AppRunner(_webhook_app(application, args.secret), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    async with application:
        await application.start()
        if args.mode == "polling":
            await application.bot.delete_webhook()
            await application.updater.start_polling(timeout=30, allowed_updates=Update.ALL_TYPES)
        await site.start()  # /healthz also in polling mode: the driver waits for it
        await stop.wait()
        if args.mode == "polling":
            await application.updater.stop()
        await application.stop()
    with contextlib.suppress(Exception):
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=["webhook", "polling"], default="webhook")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", default="bench-secret")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
