"""Fault test: a burst of tips posted to the webhook while workers die and the database stops.

Runs real `tipline run` workers (webhook mode) as subprocesses against the Bot API emulator
and one database, posts N distinct tip updates to them from a client on 127.0.0.1 that retries
anything not acknowledged (as Telegram does), kills a worker with SIGKILL at chosen points
and restarts it, optionally stops PostgreSQL for a while, then checks that every update was
recorded exactly once and every sender got exactly one reply.

    python bench/webhook_faults.py --updates 5000 --kills 2
    python bench/webhook_faults.py --workers 2 --database postgresql --kills 2
    python bench/webhook_faults.py --database postgresql --pg-outage 10

Prints a JSON report; exits 1 if anything was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.emulator import BotAPIEmulator  # noqa: E402
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH  # noqa: E402
from storage.db import Database, upgrade_database  # noqa: E402

SECRET = "fault-test-secret"  # noqa: S105 (a test value)
POSTGRES_ADMIN = os.environ.get(
    "TIPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RUMOURS = [
    "The river water is poisoned tonight, do not drink it and tell everyone",
    "Banks will freeze all accounts on Monday, withdraw your cash now",
    "Vaccines at the school clinic contain microchips, keep your children home",
    "The mayor has fled the country with the city budget, the police confirm",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tip_text(n: int, rng: random.Random) -> str:
    """A realistic mix: 40% the viral rumour as is, 30% rewordings, 30% new claims."""
    roll = rng.random()
    if roll < 0.4:
        return RUMOURS[0]
    if roll < 0.7:
        return f"{rng.choice(RUMOURS)} (seen by {n % 17} friends)"
    return f"Rumour number {n}: the {rng.choice(['bridge', 'dam', 'school', 'market'])} closes"


@dataclass
class Worker:
    """One `tipline run` process in webhook mode."""

    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=ROOT,
                env={**self.env, "TIPLINE_PORT": str(self.port)},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"


@dataclass
class Report:
    updates: int
    workers: int
    database: str
    kills: int = 0
    pg_outage_seconds: float = 0.0
    deliveries: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    post_seconds: float = 0.0
    drain_seconds: float = 0.0
    tips: int = 0
    senders_without_reply: int = 0
    senders_with_several_replies: int = 0
    # Seconds since posting began: each fault, and each reply to a sender answered twice.
    faults_at: list[str] = field(default_factory=list)
    doubled: list[dict[str, Any]] = field(default_factory=list)
    answered_in_response: int = 0
    logs: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.tips == self.updates
            and self.senders_without_reply == 0
            and self.senders_with_several_replies == 0
        )


async def _post_until_acknowledged(
    http: aiohttp.ClientSession,
    workers: list[Worker],
    update: dict[str, Any],
    report: Report,
    emulator: BotAPIEmulator,
) -> None:
    """Deliver like Telegram: retry with backoff until some worker answers 200, then make
    the Bot API call that 200 carries."""
    delay = 0.05
    for attempt in range(10_000):
        worker = workers[(update["update_id"] + attempt) % len(workers)]
        report.deliveries += 1
        try:
            async with http.post(
                worker.url, json=update, headers={SECRET_HEADER: SECRET}
            ) as response:
                if response.status == 200:
                    body = await response.read()
                    await emulator.take_webhook_answer(body)
                    return
                reason = str(response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            reason = type(error).__name__
        report.refused[reason] = report.refused.get(reason, 0) + 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    raise RuntimeError(f"update {update['update_id']} never acknowledged")


async def _wait_healthy(worker: Worker, within: float = 120) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert worker.process is not None
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited: see {worker.log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{worker.port}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"worker on {worker.port} not healthy; see {worker.log}")


def _pg_cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(  # noqa: S603
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, "-m", "fast"]
        if action == "stop"
        else ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
    )


async def _create_database(kind: str, workdir: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'faults.db'}", None
    name = f"tipline_faults_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", name


async def _drop_database(name: str | None) -> None:
    if name is None:
        return
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _count_tips(url: str) -> int:
    database = Database(url)
    try:
        async with database.session() as session:
            return (await session.exec(text("SELECT count(*) FROM tip"))).one()[0]
    finally:
        await database.dispose()


async def run(args: argparse.Namespace) -> Report:
    report = Report(updates=args.updates, workers=args.workers, database=args.database)
    rng = random.Random(7)
    emulator = BotAPIEmulator()
    await emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="tipline-faults-"))
    url, pg_name = await _create_database(args.database, workdir)
    await upgrade_database(url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")},
        "TIPLINE_BOT_TOKEN": emulator.token,
        "TIPLINE_TELEGRAM_API_URL": emulator.base_url,
        "TIPLINE_MODE": "webhook",
        "TIPLINE_WEBHOOK_URL": "https://tipline.invalid/telegram/webhook",
        "TIPLINE_WEBHOOK_SECRET": SECRET,
        "TIPLINE_DATABASE_URL": url,
        "TIPLINE_RATE_LIMIT_TIPS": "1000",
        "TIPLINE_LOG_LEVEL": "WARNING",
        "TIPLINE_SECRET_KEY": "b" * 64,
    }
    workers = [Worker(env, _free_port(), workdir / f"worker{n}.log") for n in range(args.workers)]
    report.logs = str(workdir)
    try:
        for worker in workers:
            worker.start()
        await asyncio.gather(*(_wait_healthy(w) for w in workers))
        updates = []
        for n in range(args.updates):
            update = emulator.private_message(10_000 + n, _tip_text(n, rng))
            update["update_id"] = 1_000_000 + n
            updates.append(update)
        kill_at = {args.updates * (k + 1) // (args.kills + 1) for k in range(args.kills)}
        outage_at = args.updates // 2 if args.pg_outage else None
        acknowledged = 0
        semaphore = asyncio.Semaphore(args.concurrency)
        started = time.monotonic()

        async def deliver(update: dict[str, Any], http: aiohttp.ClientSession) -> None:
            nonlocal acknowledged
            async with semaphore:
                await _post_until_acknowledged(http, workers, update, report, emulator)
            acknowledged += 1

        async def faults() -> None:
            pending_kills = sorted(kill_at)
            while pending_kills or outage_at is not None:
                await asyncio.sleep(0.05)
                if pending_kills and acknowledged >= pending_kills[0]:
                    pending_kills.pop(0)
                    victim = workers[report.kills % len(workers)]
                    victim.kill()
                    report.kills += 1
                    report.faults_at.append(f"kill {victim.port} {time.monotonic() - started:.2f}")
                    await asyncio.sleep(0.5)
                    victim.start()
                if outage_at is not None and acknowledged >= outage_at:
                    _pg_cluster("stop")
                    report.faults_at.append(f"pg stop {time.monotonic() - started:.2f}")
                    await asyncio.sleep(args.pg_outage)
                    _pg_cluster("start")
                    report.pg_outage_seconds = args.pg_outage
                    return

        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            injector = asyncio.create_task(faults())
            await asyncio.gather(*(deliver(u, http) for u in updates))
            await injector
        report.post_seconds = round(time.monotonic() - started, 1)

        drain_started = time.monotonic()
        senders = [u["message"]["chat"]["id"] for u in updates]
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline:
            if all(emulator.sent_messages(chat) for chat in senders):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # anything still in flight that would send a second reply
        report.drain_seconds = round(time.monotonic() - drain_started, 1)
        replies = [len(emulator.sent_messages(chat)) for chat in senders]
        report.senders_without_reply = sum(1 for n in replies if n == 0)
        report.senders_with_several_replies = sum(1 for n in replies if n > 1)
        for chat, count in zip(senders, replies, strict=True):
            if count > 1:
                sent = [
                    round(call.at - started, 2)
                    for call in emulator.calls
                    if call.method == "sendMessage"
                    and call.ok
                    and call.params.get("chat_id") in (chat, str(chat))
                ]
                report.doubled.append(
                    {"chat": chat, "update_id": 1_000_000 + chat - 10_000, "sent_at": sent}
                )
        report.tips = await _count_tips(url)
        report.answered_in_response = sum(
            1 for call in emulator.calls if call.method == "sendMessage" and call.via_webhook
        )
    finally:
        for worker in workers:
            worker.stop()
        await emulator.stop()
        await _drop_database(pg_name)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--pg-outage", type=float, default=0.0, help="seconds PostgreSQL is down")
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    args = parser.parse_args()
    if args.pg_outage and args.database != "postgresql":
        parser.error("--pg-outage needs --database postgresql")
    report = asyncio.run(run(args))
    print(json.dumps({**report.__dict__, "ok": report.ok}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
