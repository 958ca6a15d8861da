"""The `tipline` command: run the bot, manage the database, import fact-checks, inspect."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tipline",
        description="The tip line: a Telegram bot that answers rumours with published "
        "fact-checks and queues the rest for the newsroom.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot, the delivery loop and the dashboard")
    run.add_argument("--webhook", action="store_const", const="webhook", dest="mode")
    run.add_argument("--polling", action="store_const", const="polling", dest="mode")
    run.set_defaults(handler=_run)

    sandbox = commands.add_parser(
        "sandbox", help="the whole tip line against a local Telegram emulator, with a chat page"
    )
    sandbox.set_defaults(handler=_sandbox)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    upgrade = db.add_parser("upgrade", help="apply migrations (also done at start)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=_db_upgrade)
    downgrade = db.add_parser("downgrade", help="undo migrations down to REVISION")
    downgrade.add_argument("revision")
    downgrade.set_defaults(handler=_db_downgrade)
    backup = db.add_parser("backup", help="copy the SQLite database to PATH, safely while running")
    backup.add_argument("path", type=Path)
    backup.set_defaults(handler=_db_backup)

    factchecks = commands.add_parser("factchecks", help="published fact-checks").add_subparsers(
        dest="factchecks_command", required=True, metavar="ACTION"
    )
    importer = factchecks.add_parser(
        "import",
        help="import fact-checks from files or URLs (ClaimReview, Fact Check Tools JSON, "
        "JSON Lines, CSV, RSS/Atom)",
    )
    importer.add_argument("sources", nargs="+", metavar="SOURCE")
    importer.set_defaults(handler=_factchecks_import)

    match = commands.add_parser("match", help="the matcher, offline").add_subparsers(
        dest="match_command", required=True, metavar="ACTION"
    )
    rank = match.add_parser("rank", help="rank targets (fact-checks) for queries (tips)")
    rank.add_argument("--targets", required=True, help="JSON Lines: id, text, [title], [lang]")
    rank.add_argument("--queries", required=True, help="JSON Lines: id, text, [lang]")
    rank.add_argument("--top", type=int, default=10, help="targets per query (default 10)")
    rank.set_defaults(handler=_match_rank)

    stats = commands.add_parser("stats", help="counts of tips, claims, fact-checks, outbox")
    stats.add_argument("--json", action="store_true", help="one JSON object")
    stats.set_defaults(handler=_stats)

    editors = commands.add_parser("editors", help="newsroom accounts").add_subparsers(
        dest="editors_command", required=True, metavar="ACTION"
    )
    add = editors.add_parser("add", help="add an editor; the password is read from stdin")
    add.add_argument("username")
    add.add_argument("--role", choices=["admin", "editor", "viewer"], default="editor")
    add.add_argument("--telegram-id", type=int, default=None)
    add.set_defaults(handler=_editors_add)
    return parser


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.mode:
        settings = settings.model_copy(update={"mode": args.mode})
    if settings.bot_token is None:
        from bot.sandbox_mode import run_sandbox

        print(
            "tipline run: TIPLINE_BOT_TOKEN is not set, so nothing can reach Telegram.\n"
            "Starting the local sandbox instead; get a token from @BotFather to run for real.",
            file=sys.stderr,
        )
        return await run_sandbox(settings)
    from bot.runtime import run

    return await run(settings)


async def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sandbox_mode import run_sandbox

    return await run_sandbox(settings)


async def _factchecks_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import open_newsroom
    from newsroom.fetch import Fetcher
    from newsroom.suggestions import import_and_offer

    async with (
        open_newsroom(settings) as newsroom,
        Fetcher(allow_private=settings.allow_private_urls) as fetcher,
    ):
        outcome = await import_and_offer(newsroom, args.sources, fetcher=fetcher)
    report = outcome.report
    print(report.summary())
    if outcome.suggested:
        print(f"{outcome.suggested} open claims now have a possible answer for the editors")
    for where, reason in report.rejected:
        print(f"rejected: {where}: {reason}", file=sys.stderr)
    return 1 if report.all_rejected else 0


async def _match_rank(args: argparse.Namespace, settings: Settings) -> int:
    from newsroom.ranking import rank, read_jsonl

    try:
        targets, queries = read_jsonl(args.targets), read_jsonl(args.queries)
    except (OSError, ValueError) as exc:
        print(f"tipline match rank: {exc}", file=sys.stderr)
        return 2
    rows = await asyncio.to_thread(lambda: list(rank(targets, queries, top_k=args.top)))
    for query_id, target_id, position, score, decision in rows:
        print(f"{query_id}\t{target_id}\t{position}\t{score:.4f}\t{decision}")
    return 0


async def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import upgrade_database

    await upgrade_database(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


async def _db_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import downgrade_database

    await downgrade_database(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


async def _db_backup(args: argparse.Namespace, settings: Settings) -> int:
    from storage.backup import BackupError, backup_sqlite

    try:
        target = await asyncio.to_thread(backup_sqlite, settings.database_url, args.path)
    except BackupError as exc:
        print(f"tipline db backup: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {target}")
    return 0


async def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database, upgrade_database
    from storage.stats import collect_stats

    await upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            counts = await collect_stats(session)
    finally:
        await database.dispose()
    if args.json:
        print(json.dumps(counts, sort_keys=True))
        return 0
    for key, value in counts.items():
        if isinstance(value, dict):
            print(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        else:
            print(f"{key}: {value if value is not None else '-'}")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise SystemExit("tipline editors add: the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def _editors_add(args: argparse.Namespace, settings: Settings) -> int:
    from argon2 import PasswordHasher

    from storage.db import Database, upgrade_database
    from storage.editors import EditorExistsError, add_editor
    from storage.models import EditorRole

    password = _read_password()
    if len(password) < 12:
        print("tipline editors add: the password needs at least 12 characters", file=sys.stderr)
        return 2
    await upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            await add_editor(
                session,
                username=args.username,
                password_hash=PasswordHasher().hash(password),
                role=EditorRole(args.role),
                telegram_user_id=args.telegram_id,
            )
    except EditorExistsError:
        print(f"tipline editors add: {args.username} (or that Telegram id) exists", file=sys.stderr)
        return 1
    finally:
        await database.dispose()
    print(f"editor {args.username} added as {args.role}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m bot`."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tipline: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    secrets = [
        secret.get_secret_value()
        for secret in (settings.bot_token, settings.webhook_secret, settings.secret_key)
        if secret
    ]
    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=secrets)
    command: Command = args.handler
    try:
        return asyncio.run(command(args, settings))
    except KeyboardInterrupt:
        return 130
    except Exception:
        # Through the log, not Python's default hook: the log handler redacts the bot token
        # (an HTTP error's URL contains it) from the message and the traceback.
        logging.getLogger("tipline").exception("tipline %s failed", args.command)
        return 1
