"""The one settings object, read from the environment (prefix ``TIPLINE_``) and ``.env``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings"]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_BOT_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{10,}$")
# What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SettingsError(Exception):
    """Configuration that cannot work; ``str()`` is one line per bad value."""


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseSettings):
    """Every knob of the tip line; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="TIPLINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    bot_token: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///tipline.db"
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str | None = None
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    newsroom_chat_id: int | None = None
    editor_telegram_ids: Annotated[tuple[int, ...], NoDecode] = ()
    secret_key: SecretStr | None = None
    retention_days: int = Field(default=90, ge=1)
    log_level: str = "INFO"
    log_json: bool = False

    rate_limit_tips: int = Field(default=20, ge=1)
    rate_limit_window_seconds: int = Field(default=600, ge=1)
    feeds: Annotated[tuple[str, ...], NoDecode] = ()
    feed_interval_minutes: int = Field(default=30, ge=1)
    allow_private_urls: bool = False
    # Matching thresholds; unset means the calibrated defaults (docs/MATCHING.md).
    match_reply_threshold: float | None = Field(default=None, ge=0, le=1)
    match_ask_threshold: float | None = Field(default=None, ge=0, le=1)
    claim_join_threshold: float | None = Field(default=None, ge=0, le=1)
    claim_ask_threshold: float | None = Field(default=None, ge=0, le=1)
    # int8 keeps sentence vectors in a quarter of the memory, with the same matches on the
    # CheckThat! dev set (docs/MATCHING.md, "Scale").
    vector_dtype: Literal["float32", "int8"] = "int8"
    # The indexes in a process of their own: matching gets a core instead of sharing the
    # event loop's (docs/ARCHITECTURE.md); off, they are held on a thread of this process.
    matching_process: bool = True

    @field_validator("editor_telegram_ids", "feeds", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_separated(value)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value, "TELEGRAM_API_URL")

    @field_validator("telegram_file_url", "webhook_url")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return None if not value else _http_url(value, "URL")

    @field_validator("feeds")
    @classmethod
    def _feed_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_http_url(url, "FEEDS entry") for url in value)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _BOT_TOKEN.match(value.get_secret_value()):
            raise ValueError("BOT_TOKEN does not look like a token from @BotFather (123:ABC...)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Settings:
        if self.mode == "webhook" and self.bot_token and not self.webhook_url:
            raise ValueError("MODE=webhook needs TIPLINE_WEBHOOK_URL")
        if self.mode == "webhook" and self.bot_token and not self.webhook_secret:
            raise ValueError("MODE=webhook needs TIPLINE_WEBHOOK_SECRET")
        return self

    @model_validator(mode="after")
    def _ask_below_reply(self) -> Settings:
        if (
            self.match_reply_threshold is not None
            and self.match_ask_threshold is not None
            and self.match_ask_threshold > self.match_reply_threshold
        ):
            raise ValueError("MATCH_ASK_THRESHOLD must not exceed MATCH_REPLY_THRESHOLD")
        if (
            self.claim_join_threshold is not None
            and self.claim_ask_threshold is not None
            and self.claim_ask_threshold > self.claim_join_threshold
        ):
            raise ValueError("CLAIM_ASK_THRESHOLD must not exceed CLAIM_JOIN_THRESHOLD")
        return self

    @property
    def file_url(self) -> str:
        """Bot API file download base; derived from the API URL unless set."""
        if self.telegram_file_url:
            return self.telegram_file_url
        base = self.telegram_api_url
        return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file/bot"

    @property
    def rate_limit_window(self) -> timedelta:
        return timedelta(seconds=self.rate_limit_window_seconds)


def load_settings(env_file: Path | str | None = ".env", **overrides: object) -> Settings:
    """Read and validate settings, turning pydantic's report into one line per bad value."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = f"TIPLINE_{field.upper()}" if field else "settings"
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise SettingsError("\n".join(lines)) from None
