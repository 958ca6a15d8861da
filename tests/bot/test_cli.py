"""The `tipline` command as an operator meets it: in a subprocess, configured by environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def _tipline(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_bad_settings_get_one_line_each_and_no_traceback(tmp_path: Path) -> None:
    env = {"TIPLINE_PORT": "eighty", "TIPLINE_MODE": "hook", "TIPLINE_DATABASE_URL": "mysql://x"}
    result = _tipline("stats", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("TIPLINE_")]
    assert sorted(line.split(":")[0] for line in lines) == [
        "TIPLINE_DATABASE_URL",
        "TIPLINE_MODE",
        "TIPLINE_PORT",
    ]


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TIPLINE_PORT=9090\nTIPLINE_EDITOR_TELEGRAM_IDS=1, 2\n")
    settings = load_settings(env_file)
    assert (settings.port, settings.editor_telegram_ids) == (9090, (1, 2))
    assert settings.file_url == "https://api.telegram.org/file/bot"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"telegram_api_url": "ftp://example.org/bot"}, "TIPLINE_TELEGRAM_API_URL"),
        ({"port": 70000}, "TIPLINE_PORT"),
        ({"bot_token": "not-a-token"}, "TIPLINE_BOT_TOKEN"),
        ({"log_level": "LOUD"}, "TIPLINE_LOG_LEVEL"),
        ({"mode": "webhook", "bot_token": "123456:" + "A" * 35}, "WEBHOOK_URL"),
        ({"match_reply_threshold": 0.5, "match_ask_threshold": 0.6}, "MATCH_ASK_THRESHOLD"),
        ({"claim_join_threshold": 0.5, "claim_ask_threshold": 0.6}, "CLAIM_ASK_THRESHOLD"),
    ],
)
def test_each_bad_value_is_named(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(None, **overrides)


def test_file_url_is_derived_from_a_self_hosted_api_url() -> None:
    settings = load_settings(None, telegram_api_url="http://127.0.0.1:8081/bot")
    assert settings.file_url == "http://127.0.0.1:8081/file/bot"


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = _tipline("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "sandbox", "db", "factchecks", "match", "stats", "editors"):
        assert f"    {command}" in result.stdout


def test_stats_json_on_both_databases(tmp_path: Path, database_url: str) -> None:
    result = _tipline("stats", "--json", env={"TIPLINE_DATABASE_URL": database_url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    for key in ("reporters", "tips", "fact_checks", "subscriptions"):
        assert isinstance(counts[key], int)
    assert set(counts["claims"]) == {
        "new",
        "in_review",
        "answered",
        "not_checkable",
        "rejected",
        "merged",
    }
    assert set(counts["outbox"]) == {"pending", "sent", "failed", "cancelled"}


def test_db_upgrade_creates_the_file_and_is_repeatable(tmp_path: Path) -> None:
    env = {"TIPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"}
    for _ in range(2):
        result = _tipline("db", "upgrade", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "new.db").stat().st_size > 0


def test_editors_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = {"TIPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ed.db'}"}
    ok = _tipline(
        "editors",
        "add",
        "anna",
        "--role",
        "admin",
        env=env,
        stdin="correct horse battery\n",
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    again = _tipline(
        "editors", "add", "anna", env=env, stdin="correct horse battery\n", cwd=tmp_path
    )
    assert again.returncode == 1
    short = _tipline("editors", "add", "ben", env=env, stdin="short\n", cwd=tmp_path)
    assert short.returncode == 2
    assert "12 characters" in short.stderr


def test_db_backup_copies_the_sqlite_database_and_refuses_to_overwrite(tmp_path: Path) -> None:
    env = {"TIPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tipline.db'}"}
    assert _tipline("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    backup = tmp_path / "copy.db"
    result = _tipline("db", "backup", str(backup), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    copied = {"TIPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{backup}"}
    stats = json.loads(_tipline("stats", "--json", env=copied, cwd=tmp_path).stdout)
    assert stats["tips"] == 0
    again = _tipline("db", "backup", str(backup), env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert "exists" in again.stderr
