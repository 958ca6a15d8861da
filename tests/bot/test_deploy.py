"""Deployment files stay in step with the code: every setting documented, the example valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"


def _example_values() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*(TIPLINE_[A-Z_]+)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _setting_names() -> set[str]:
    return {f"TIPLINE_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_is_in_the_env_example_and_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert _setting_names() - set(_example_values()) == set()
    assert {name for name in _setting_names() if f"`{name}`" not in readme} == set()


def test_the_env_example_is_a_valid_configuration_once_secrets_are_filled_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {k: v for k, v in _example_values().items() if k in _setting_names()}
    values["TIPLINE_BOT_TOKEN"] = "123456:" + "A" * 35
    values["TIPLINE_WEBHOOK_SECRET"] = "a" * 64
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.mode == "webhook"
    assert settings.newsroom_chat_id is None  # an empty value means the default
    assert settings.match_reply_threshold is None
