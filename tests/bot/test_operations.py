"""What docs/DEPLOY.md tells an operator to run, run here: the image's entry point and health
check (outside a container: no Docker engine runs in CI), JSON logs, and the pg_dump routine."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text

from bot.emulator import BotAPIEmulator
from matching.images import OCR_LANGUAGES
from storage import tips
from storage.db import Database, upgrade_database
from storage.models import FactCheck
from storage.reporters import touch_reporter

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"
VENV_BIN = Path(sys.executable).parent
ASYNC = pytest.mark.asyncio(loop_scope="session")

POSTGRES_ADMIN_URL = os.environ.get(
    "TIPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("TIPLINE_TEST_REQUIRE_POSTGRES") == "1"


# --- The image: Dockerfile instructions, run as the container would run them -----------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in joined.splitlines()]
    steps = [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, step in enumerate(steps) if step[0] == "FROM")
    return [(step[0], step[1] if len(step) > 1 else "") for step in steps[last_from:]]


def _exec_form(instruction: str) -> list[str]:
    [arguments] = [args for name, args in _instructions() if name == instruction]
    if instruction == "HEALTHCHECK":
        arguments = arguments.split(" CMD ", 1)[1]
    command = json.loads(arguments)
    assert isinstance(command, list), f"{instruction} must use the exec form"
    return command


def _image_env() -> dict[str, str]:
    """The image's ENV, with its virtual environment's bin/ replaced by this one's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    for name, arguments in _instructions():
        if name == "ENV":
            for pair in shlex.split(arguments):
                key, value = pair.split("=", 1)
                env[key] = value.replace("/opt/tipline/bin", str(VENV_BIN)).replace(
                    "$PATH", os.environ["PATH"]
                )
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _exit_code(command: list[str], env: dict[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 10)


def test_the_image_runs_tipline_run_as_an_unprivileged_user_with_a_health_check() -> None:
    names = [name for name, _ in _instructions()]
    assert _exec_form("ENTRYPOINT") + _exec_form("CMD") == ["tipline", "run"]
    assert "/healthz" in " ".join(_exec_form("HEALTHCHECK"))
    [user] = [args for name, args in _instructions() if name == "USER"]
    assert user not in ("root", "0")
    assert names.index("USER") < names.index("ENTRYPOINT")


def test_the_image_has_tesseract_for_every_language_pictures_are_read_in() -> None:
    installed = " ".join(args for name, args in _instructions() if name == "RUN")
    assert "tesseract-ocr " in installed
    packages = set(re.findall(r"tesseract-ocr-([a-z]+)", installed)) | {"eng"}  # eng: built in
    assert set(OCR_LANGUAGES.values()) - packages == set()


@ASYNC
async def test_entry_point_and_health_check_work_outside_a_container(
    emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    """ENTRYPOINT + CMD with the image's environment, the WORKDIR's default SQLite file and
    JSON logs (as deploy/.env.example sets them); the exact HEALTHCHECK command fails before
    the server is up and passes once it is; STOPSIGNAL stops it cleanly."""
    env = _image_env()
    assert env["TIPLINE_HOST"] == "0.0.0.0"  # noqa: S104 (the image listens on all interfaces)
    env.update(
        {
            # The image's port is 8080; here one that is free, which the check follows.
            "TIPLINE_PORT": str(_free_port()),
            "TIPLINE_BOT_TOKEN": emulator.token,
            "TIPLINE_TELEGRAM_API_URL": emulator.base_url,
            "TIPLINE_LOG_JSON": "true",
        }
    )
    healthcheck = _exec_form("HEALTHCHECK")
    assert await _exit_code(healthcheck, env) != 0  # nothing listens yet: the check can fail

    process = await asyncio.create_subprocess_exec(
        *_exec_form("ENTRYPOINT"),
        *_exec_form("CMD"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):
            assert process.returncode is None, await process.communicate()
            if await _exit_code(healthcheck, env) == 0:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the health check never passed")
        [stop_signal] = [args for name, args in _instructions() if name == "STOPSIGNAL"]
        process.send_signal(getattr(signal, stop_signal))
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert (tmp_path / "tipline.db").exists()
    entries = [json.loads(line) for line in stderr.decode().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"].startswith("tip line running as @") for e in entries)
    assert emulator.token not in stderr.decode()


# --- PostgreSQL: the documented pg_dump / pg_restore routine ------------------------------------


def _documented(tool: str) -> list[str]:
    """The ``tool`` command line of docs/DEPLOY.md, aimed at the local server and ``database``.

    The docs run it inside the compose ``postgres`` service as role ``tipline`` on database
    ``tipline``; here only the connection changes, every other option is the documented one.
    """
    [line] = re.findall(
        rf"^\s*({tool} -U tipline -d tipline [^<>\n]*)", DEPLOY_DOC.read_text(), re.M
    )
    return shlex.split(line.strip())


def _connection(database: str) -> list[str]:
    server = POSTGRES_ADMIN_URL.removeprefix("postgresql://").rsplit("/", 1)[0]
    user, _, host_port = server.rpartition("@")
    host, _, port = host_port.partition(":")
    return ["-h", host, "-p", port or "5432", "-U", user or "postgres", "-d", database]


def _aimed(command: list[str], database: str) -> list[str]:
    tool, rest = command[0], command[1:]
    assert rest[:4] == ["-U", "tipline", "-d", "tipline"]
    return [tool, *_connection(database), *rest[4:]]


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _row_counts(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        async with database.session() as session:
            names = (
                await session.exec(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).all()
            return {
                name: (await session.exec(text(f'SELECT count(*) FROM "{name}"'))).one()[0]
                for (name,) in names
            }
    finally:
        await database.dispose()


async def _run(
    command: list[str], *, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
) -> None:
    process = await asyncio.create_subprocess_exec(*command, stdin=stdin, stdout=stdout)
    assert await asyncio.wait_for(process.wait(), 60) == 0, command


@pytest_asyncio.fixture(loop_scope="session")
async def two_databases() -> AsyncIterator[tuple[str, str]]:
    """A live database and an empty one to restore into; dropped afterwards."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        if REQUIRE_POSTGRES:
            pytest.fail("pg_dump and pg_restore are required (Debian: postgresql-client)")
        pytest.skip("pg_dump/pg_restore not installed")
    names = [f"tipline_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        for name in names:
            await _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield names[0], names[1]
    for name in names:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{database}"


@ASYNC
async def test_the_documented_pg_dump_restores_into_an_empty_database(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    live, restored = two_databases
    await upgrade_database(_url(live))
    database = Database(_url(live))
    try:
        async with database.session() as session:
            for n in range(30):
                reporter = await touch_reporter(session, 880_000 + n)
                await tips.record_tip(
                    session,
                    reporter_id=reporter.id,
                    chat_id=reporter.telegram_user_id,
                    message_id=n,
                    text=f"Rumour number {n} about the dam",
                )
            session.add(FactCheck(url="https://example.org/fc/dam", claim_reviewed="The dam broke"))
    finally:
        await database.dispose()

    dump = tmp_path / "tipline.dump"
    with dump.open("wb") as out:
        await _run(_aimed(_documented("pg_dump"), live), stdout=out)
    with dump.open("rb") as source:
        await _run(_aimed(_documented("pg_restore"), restored), stdin=source)

    before, after = await _row_counts(_url(live)), await _row_counts(_url(restored))
    assert before["tip"] == 30
    assert before["reporter"] == 30
    assert before["fact_check"] == 1
    assert before["alembic_version"] == 1
    assert after == before
    await upgrade_database(_url(restored))  # the restored schema is at the current revision
