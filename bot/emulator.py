"""A fake Telegram Bot API server on 127.0.0.1, for the tests and for `tipline sandbox`.

The bot talks plain HTTP to it exactly as it would to api.telegram.org, so what is tested is
the real python-telegram-bot stack. The emulator is strict where Telegram is strict and where
our bugs would hide: HTML parse mode is parsed like Telegram parses it (a malformed reply is a
400 "can't parse entities", an escaping slip changes ``text``), messages longer than 4096
characters are refused, callback data longer than 64 bytes is refused. Tests push real Update
JSON (built with the helpers below), read what the bot sent, and inject failures.

It is not a complete Bot API: only the methods the tip line calls are served; any other method
answers 404 so that a new call shows up as a failing test rather than as a silent success.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

__all__ = [
    "EMULATOR_TOKEN",
    "MESSAGE_LIMIT",
    "BotAPIEmulator",
    "Call",
    "HTMLParseError",
    "detect_entities",
    "parse_html",
]

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
_SANDBOX_ASSETS = Path(__file__).with_name("sandbox")
_SANDBOX_USER_ID = 4242
# A token of Telegram's shape that only this emulator accepts.
EMULATOR_TOKEN = "123456789:AAEmulatorTokenForTestsOnly_abcdefghij"  # noqa: S105

JSON = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Telegram's text model: HTML parse mode, automatic entities, UTF-16 offsets
# ---------------------------------------------------------------------------------------------


class HTMLParseError(ValueError):
    """The reason Telegram gives after "Bad Request: can't parse entities: "."""


_TAG_ENTITY = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_SPACE = " \t\r\n\f\v"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")


def _u16(text: str) -> int:
    """Length in UTF-16 code units: Telegram counts entity offsets in them."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(source: str, index: int) -> tuple[str, int] | None:
    """Only the four named entities and numeric ones; any other ``&`` stays as it is."""
    match = _ENTITY_RE.match(source, index)
    if match is None:
        return None
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED_ENTITIES[named], match.end()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def _link_url(url: str) -> str | None:
    """Telegram keeps a link only if it is a URL it would open; ``javascript:`` is dropped."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https", "tg", "ton") and (parts.netloc or parts.path):
        return url
    if not parts.scheme and re.fullmatch(r"[\w-]+(\.[\w-]+)+(/\S*)?", url):
        return "http://" + url
    return None


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    char_start: int


class _HTMLParser:
    """A port of the rules of Telegram's HTML parse mode (tdlib's ``parse_html``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def _at(self, index: int) -> str:
        return self.source[index] if index < len(self.source) else ""

    def _append(self, text: str) -> None:
        self.out.append(text)
        self.utf16 += _u16(text)

    def parse(self) -> tuple[str, list[JSON]]:
        source = self.source
        while self.pos < len(source):
            char = source[self.pos]
            if char == "&":
                decoded = _decode_entity(source, self.pos)
                if decoded is not None:
                    self._append(decoded[0])
                    self.pos = decoded[1]
                    continue
            if char != "<":
                self._append(char)
                self.pos += 1
                continue
            if self._at(self.pos + 1) == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self.stack:
            raise HTMLParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _skip_space(self) -> None:
        while self._at(self.pos) and self._at(self.pos) in _SPACE:
            self.pos += 1

    def _start_tag(self) -> None:
        source, begin = self.source, self.pos
        offset = _byte_offset(source, begin)
        self.pos += 1
        name_start = self.pos
        while self._at(self.pos) and self._at(self.pos) not in _SPACE + ">":
            self.pos += 1
        if not self._at(self.pos):
            raise HTMLParseError(f"Unclosed start tag at byte offset {offset}")
        name = source[name_start : self.pos].lower()
        if name not in _TAG_ENTITY:
            raise HTMLParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        argument = ""
        while self._at(self.pos) != ">":
            self._skip_space()
            if not self._at(self.pos):
                raise HTMLParseError(f"Unclosed start tag at byte offset {offset}")
            if self._at(self.pos) == ">":
                break
            attribute_start = self.pos
            while self._at(self.pos) and self._at(self.pos) not in _SPACE + "=>":
                self.pos += 1
            attribute = source[attribute_start : self.pos].lower()
            if not attribute:
                raise HTMLParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {offset}'
                )
            self._skip_space()
            if self._at(self.pos) != "=":
                if name == "blockquote" and attribute == "expandable":
                    argument = "expandable"
                    continue
                raise HTMLParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{name}" at byte offset {offset}'
                )
            self.pos += 1
            self._skip_space()
            value = self._attribute_value(name, offset)
            if (
                (name == "a" and attribute == "href")
                or (name == "span" and attribute == "class")
                or (name == "tg-emoji" and attribute == "emoji-id")
            ):
                argument = value
            elif name == "code" and attribute == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
        self.pos += 1
        if name == "span" and argument != "tg-spoiler":
            raise HTMLParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        self.stack.append(_OpenTag(name, argument, self.utf16, len(self.out)))

    def _attribute_value(self, tag: str, offset: int) -> str:
        source = self.source
        if not self._at(self.pos):
            raise HTMLParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
        quote = self._at(self.pos)
        if quote not in ("'", '"'):
            token_start = self.pos
            while self._at(self.pos) and (
                self._at(self.pos).isalnum() or self._at(self.pos) in ".-"
            ):
                self.pos += 1
            if self._at(self.pos) and self._at(self.pos) not in _SPACE + ">":
                raise HTMLParseError(
                    f"Unexpected end of name token at byte offset "
                    f"{_byte_offset(source, token_start)}"
                )
            if not self._at(self.pos):
                raise HTMLParseError(f"Unclosed start tag at byte offset {offset}")
            return source[token_start : self.pos].lower()
        self.pos += 1
        value: list[str] = []
        while self._at(self.pos) and self._at(self.pos) != quote:
            decoded = _decode_entity(source, self.pos) if self._at(self.pos) == "&" else None
            if decoded is not None:
                value.append(decoded[0])
                self.pos = decoded[1]
            else:
                value.append(self._at(self.pos))
                self.pos += 1
        if not self._at(self.pos):
            raise HTMLParseError(f"Unclosed start tag at byte offset {offset}")
        self.pos += 1
        return "".join(value)

    def _end_tag(self) -> None:
        source, begin = self.source, self.pos
        offset = _byte_offset(source, begin)
        if not self.stack:
            raise HTMLParseError(f"Unexpected end tag at byte offset {offset}")
        self.pos += 2
        name_start = self.pos
        while self._at(self.pos) and self._at(self.pos) not in _SPACE + ">":
            self.pos += 1
        name = source[name_start : self.pos].lower()
        self._skip_space()
        if self._at(self.pos) != ">":
            raise HTMLParseError(f"Unclosed end tag at byte offset {offset}")
        self.pos += 1
        tag = self.stack.pop()
        if name and name != tag.name:
            raise HTMLParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", '
                f'found "</{name}>"'
            )
        self._close(tag)

    def _close(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.utf16_start
        if length <= 0:
            return
        if tag.name == "code" and tag.argument and self.stack and self.stack[-1].name == "pre":
            # <pre><code class="language-x"> is one pre entity with a language
            self.stack[-1].argument = tag.argument
            return
        entity: JSON = {"type": _TAG_ENTITY[tag.name], "offset": tag.utf16_start, "length": length}
        if tag.name == "a":
            url = _link_url(tag.argument or "".join(self.out[tag.char_start :]))
            if url is None:
                return
            user = re.fullmatch(r"tg://user\?id=(\d+)", url)
            if user:
                entity.update(type="text_mention", user={"id": int(user[1]), "is_bot": False})
            else:
                entity["url"] = url
        elif tag.name == "pre" and tag.argument:
            entity["language"] = tag.argument
        elif tag.name == "blockquote" and tag.argument:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.argument
        self.entities.append(entity)


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Text and entities of an HTML parse-mode message, or HTMLParseError as Telegram says."""
    return _HTMLParser(source).parse()


_AUTO_ENTITY_RE = re.compile(
    r"(?P<url>\b(?:https?://[^\s<>\"]+|www\.[^\s<>\"]+"
    r"|(?:[\w-]+\.)+(?:com|org|net|info|io|eu|de|ru|ua|fr|es|tr|uk|me|news)\b(?:/[^\s<>\"]*)?))"
    r"|(?P<email>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b)"
    r"|(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/]))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{4,32}\b)"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d]\w*)"
)
_NO_AUTO_ENTITIES = {"code", "pre", "text_link", "url", "email"}


def detect_entities(text: str, existing: Iterable[JSON] = ()) -> list[JSON]:
    """The entities Telegram adds by itself: links, e-mails, /commands, @mentions, #hashtags."""
    taken = [
        (e["offset"], e["offset"] + e["length"]) for e in existing if e["type"] in _NO_AUTO_ENTITIES
    ]
    found: list[JSON] = []
    for match in _AUTO_ENTITY_RE.finditer(text):
        kind = match.lastgroup or "url"
        value = match.group()
        if kind == "url":
            value = value.rstrip(".,;:!?)'»")
        start = _u16(text[: match.start()])
        end = start + _u16(value)
        if any(start < stop and end > begin for begin, stop in taken):
            continue
        found.append({"type": kind, "offset": start, "length": end - start})
    return found


def _strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram trims whitespace around a message; entities move and shrink with it."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = _u16(text[: len(text) - len(text.lstrip())])
    limit = _u16(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class _APIError(Exception):
    """An ``{"ok": false}`` answer."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad_request(description: str) -> _APIError:
    return _APIError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Call:
    """One Bot API request the bot made: what it asked, when, and whether it succeeded."""

    method: str
    params: JSON
    at: float
    ok: bool = True
    error: str | None = None
    via_webhook: bool = False  # carried by a webhook's response, not requested


@dataclass
class _Fault:
    method: str
    error: _APIError
    chat_id: int | None
    times: int


@dataclass
class _PendingUpdate:
    update: JSON
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str


@dataclass
class _Chat:
    info: JSON
    messages: list[JSON] = field(default_factory=list)
    next_message_id: int = 1


# Parameters that are strings even when they look like numbers or JSON.
_STRING_PARAMS = {
    "text",
    "caption",
    "message_text",
    "parse_mode",
    "callback_query_id",
    "inline_query_id",
    "inline_message_id",
    "url",
    "secret_token",
    "file_id",
    "next_offset",
    "query",
    "title",
    "description",
    "short_description",
    "name",
    "action",
    "language_code",
    "ip_address",
    "switch_pm_text",
    "switch_pm_parameter",
}
_DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
    }
)
_MEDIA_MIME = {
    "photo": "image/jpeg",
    "video": "video/mp4",
    "animation": "video/mp4",
    "document": "application/pdf",
    "sticker": "image/webp",
    "voice": "audio/ogg",
    "video_note": "video/mp4",
    "audio": "audio/mpeg",
}
# The smallest valid JPEG-ish placeholder: tests rarely care about the pixels.
_PLACEHOLDER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def _decode_params(pairs: Iterable[tuple[str, Any]]) -> JSON:
    """PTB sends JSON-encoded values in a form; plain strings travel unencoded."""
    params: JSON = {}
    for key, value in pairs:
        if isinstance(value, str) and key not in _STRING_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


class BotAPIEmulator:
    """Telegram's Bot API for one bot, in memory, over HTTP on 127.0.0.1.

    ``base_url``/``base_file_url`` go into the bot's settings. Updates are pushed with
    :meth:`push_update` (build them with :meth:`private_message`, :meth:`group_message`,
    :meth:`callback_query`, :meth:`inline_query`); every request is kept in :attr:`calls`;
    :meth:`sent_messages` shows a chat's messages from the bot as they are now (edits
    applied). :meth:`fail_next` and :meth:`block` make Telegram say no.
    """

    def __init__(
        self,
        token: str = EMULATOR_TOKEN,
        *,
        bot_username: str = "tipline_test_bot",
        bot_name: str = "Tip line",
    ) -> None:
        self.token = token
        self.bot_user: JSON = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.calls: list[Call] = []
        self.commands: list[JSON] = []
        self.webhook: JSON = {}
        self.long_polls_waiting = 0
        # Seconds every method call takes to answer: a slow Telegram, for ordering tests.
        self.response_delay = 0.0
        # Awaited after a call succeeded and before the bot hears so: a test makes something
        # happen between Telegram taking a message and the bot learning that it did.
        self.before_answering: Callable[[Call], Awaitable[None]] | None = None
        self._pending: list[_PendingUpdate] = []
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._update_ids = itertools.count(1)
        self._ids = itertools.count(1000)
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, JSON] = {}
        self._files: dict[str, _StoredFile] = {}
        self._callback_queries: set[str] = set()
        self._inline_queries: set[str] = set()
        self._faults: list[_Fault] = []
        self._blocked: set[int] = set()
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port``; port 0 picks a free one."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.add_routes(
            [
                web.route("*", "/bot{token}/{method}", self._api),
                web.get("/file/bot{token}/{path:.+}", self._download),
                web.get("/sandbox", self._sandbox_redirect),
                web.get("/sandbox/", self._sandbox_page),
                web.get("/sandbox/sandbox.js", self._sandbox_asset),
                web.get("/sandbox/sandbox.css", self._sandbox_asset),
                web.get("/sandbox/api/chat", self._sandbox_chat),
                web.post("/sandbox/api/send", self._sandbox_send),
                web.post("/sandbox/api/press", self._sandbox_press),
                web.get("/sandbox/media/{file_id}", self._sandbox_media),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        await web.SockSite(self._runner, listener).start()
        self._port = listener.getsockname()[1]
        self._host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
        self._closing = False

    async def stop(self) -> None:
        """Answer waiting long polls and close the server."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The Bot API base URL; python-telegram-bot appends the token."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root_url}/file/bot"

    @property
    def sandbox_url(self) -> str:
        return f"{self.root_url}/sandbox/"

    # --- what tests do ------------------------------------------------------------------------

    def push_update(self, update: JSON) -> JSON:
        """Queue an update for getUpdates; one without ``update_id`` gets the next one.

        Pushing the same update twice delivers it twice with the same id, as Telegram does
        when a bot did not acknowledge it.
        """
        update = self.accept_update(update)
        self._pending.append(_PendingUpdate(update))
        self._notify()
        return update

    def accept_update(self, update: JSON) -> JSON:
        """What Telegram knows of an update before delivering it (its message, callback or
        inline query), without queueing it for getUpdates: for a webhook delivery."""
        update = copy.deepcopy(update)
        update.setdefault("update_id", next(self._update_ids))
        for key in ("message", "edited_message", "channel_post"):
            if key in update:
                self._remember_message(update[key])
        if "callback_query" in update:
            self._callback_queries.add(update["callback_query"]["id"])
        if "inline_query" in update:
            self._inline_queries.add(update["inline_query"]["id"])
        return update

    def sent_messages(self, chat_id: int) -> list[JSON]:
        """The bot's messages in a chat, oldest first, as they look now (copies)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [
            {"entities": [], **copy.deepcopy(m)}
            for m in chat.messages
            if m.get("from", {}).get("id") == self.bot_user["id"]
        ]

    def chat_messages(self, chat_id: int) -> list[JSON]:
        """Every message of a chat, from people and from the bot, oldest first (copies)."""
        chat = self._chats.get(chat_id)
        return copy.deepcopy(chat.messages) if chat else []

    async def wait_for(
        self,
        method: str,
        *,
        where: Callable[[Call], bool] | None = None,
        count: int = 1,
        within: float = 10.0,
    ) -> list[Call]:
        """Wait until ``count`` answered calls of ``method`` (matching ``where``) were made."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            changed = self._changed
            found = [c for c in self.calls if c.method == method and (where is None or where(c))]
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [c.method for c in self.calls[-10:]]
                raise TimeoutError(f"no {method} call after {within} s; last calls: {recent}")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, if given) fail like this."""
        error = _APIError(error_code, description, retry_after)
        self._faults.append(_Fault(method, error, chat_id, times))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every later sendMessage to them is a 403."""
        self._blocked.add(chat_id)

    def add_file(
        self, content: bytes, *, kind: str = "photo", mime_type: str | None = None
    ) -> JSON:
        """Store a file the bot can fetch with getFile; returns its ids as Telegram sends them."""
        number = next(self._ids)
        file_id = f"AgAC{kind[:3]}{number:08d}emu"
        stored = _StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{number:06d}",
            file_path=f"{kind}s/file_{number}",
            content=content,
            mime_type=mime_type or _MEDIA_MIME.get(kind, "application/octet-stream"),
        )
        self._files[file_id] = stored
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(content),
        }

    # --- building updates ---------------------------------------------------------------------

    def user(self, user_id: int, *, language_code: str | None = None) -> JSON:
        """A member of the public; their app language is remembered between messages."""
        known = self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"Person {user_id}"}
        )
        if language_code is not None:
            known["language_code"] = language_code
        return dict(known)

    def private_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        language_code: str | None = None,
        forward_origin: JSON | None = None,
        kind: str = "text",
        caption: str | None = None,
        file: bytes | None = None,
    ) -> JSON:
        """An update: someone writes, forwards or sends media to the bot in a private chat."""
        sender = self.user(user_id, language_code=language_code)
        chat = {"id": user_id, "type": "private", "first_name": sender["first_name"]}
        message = self._new_message(chat, sender)
        self._fill_message(message, kind=kind, text=text, caption=caption, file=file)
        if forward_origin is not None:
            message["forward_origin"] = forward_origin
        return {"update_id": next(self._update_ids), "message": message}

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: JSON | None = None,
        language_code: str | None = None,
        title: str = "Family chat",
    ) -> JSON:
        """An update: someone writes in a group the bot is a member of."""
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat = {"id": chat_id, "type": kind, "title": title}
        message = self._new_message(chat, self.user(user_id, language_code=language_code))
        self._fill_message(message, kind="text", text=text, caption=None)
        if reply_to is not None:
            message["reply_to_message"] = _without_extras(reply_to)
        return {"update_id": next(self._update_ids), "message": message}

    def callback_query(self, user_id: int, message: JSON, data: str) -> JSON:
        """An update: someone presses an inline button under one of the bot's messages."""
        query_id = str(next(self._ids) * 7919)
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": query_id,
                "from": self.user(user_id),
                "message": _without_extras(message),
                "chat_instance": str(abs(message["chat"]["id"]) * 31),
                "data": data,
            },
        }

    def inline_query(self, user_id: int, query: str, *, language_code: str | None = None) -> JSON:
        """An update: someone types ``@bot words`` in any chat."""
        return {
            "update_id": next(self._update_ids),
            "inline_query": {
                "id": str(next(self._ids) * 104729),
                "from": self.user(user_id, language_code=language_code),
                "query": query,
                "offset": "",
                "chat_type": "private",
            },
        }

    @staticmethod
    def origin_channel(
        chat_id: int, title: str, username: str | None, message_id: int, date: int | None = None
    ) -> JSON:
        """``forward_origin`` of a post forwarded from a channel."""
        chat: JSON = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
        return {
            "type": "channel",
            "chat": chat,
            "message_id": message_id,
            "date": date or int(time.time()),
        }

    @staticmethod
    def origin_chat(chat_id: int, title: str, date: int | None = None) -> JSON:
        """``forward_origin`` of a message sent on behalf of a group."""
        return {
            "type": "chat",
            "sender_chat": {"id": chat_id, "type": "supergroup", "title": title},
            "date": date or int(time.time()),
        }

    @staticmethod
    def origin_user(user_id: int, first_name: str, date: int | None = None) -> JSON:
        """``forward_origin`` of a message by a person who allows linking to them."""
        return {
            "type": "user",
            "sender_user": {"id": user_id, "is_bot": False, "first_name": first_name},
            "date": date or int(time.time()),
        }

    @staticmethod
    def origin_hidden_user(name: str, date: int | None = None) -> JSON:
        """``forward_origin`` of a message by a person who hides their account."""
        return {"type": "hidden_user", "sender_user_name": name, "date": date or int(time.time())}

    def _new_message(self, chat: JSON, sender: JSON) -> JSON:
        stored = self._chat(chat["id"], chat)
        message_id = stored.next_message_id
        stored.next_message_id += 1
        return {"message_id": message_id, "from": sender, "chat": chat, "date": int(time.time())}

    def _fill_message(
        self,
        message: JSON,
        *,
        kind: str,
        text: str | None,
        caption: str | None,
        file: bytes | None = None,
    ) -> None:
        if kind == "text":
            message["text"] = text or ""
            entities = detect_entities(message["text"])
            if entities:
                message["entities"] = entities
            return
        content = file if file is not None else _PLACEHOLDER + str(next(self._ids)).encode()
        media = self._media(kind, content)
        message[kind] = media
        if kind == "animation":
            message["document"] = dict(media)
        caption = caption if caption is not None else text
        if caption and kind in _MEDIA_MIME and kind != "sticker":
            message["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                message["caption_entities"] = entities

    def _media(self, kind: str, content: bytes) -> Any:
        if kind == "photo":
            small = self.add_file(content, kind="photo")
            large = self.add_file(content, kind="photo")
            return [
                {**small, "width": 90, "height": 60},
                {**large, "width": 1280, "height": 853},
            ]
        if kind in _MEDIA_MIME:
            media = self.add_file(content, kind=kind)
            media["mime_type"] = _MEDIA_MIME[kind]
            extra: dict[str, JSON] = {
                "video": {"width": 640, "height": 360, "duration": 12},
                "animation": {"width": 320, "height": 240, "duration": 3},
                "document": {"file_name": "document.pdf"},
                "sticker": {
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "🙂",
                },
                "voice": {"duration": 4},
                "video_note": {"length": 240, "duration": 5},
                "audio": {"duration": 120},
            }
            return {**media, **extra.get(kind, {})}
        others: dict[str, JSON] = {
            "location": {"latitude": 52.52, "longitude": 13.405},
            "contact": {"phone_number": "+10000000000", "first_name": "Someone"},
            "poll": {
                "id": str(next(self._ids)),
                "question": "Is it true?",
                "options": [
                    {"text": "Yes", "voter_count": 0, "persistent_id": "1"},
                    {"text": "No", "voter_count": 0, "persistent_id": "2"},
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            },
            "dice": {"emoji": "🎲", "value": 4},
        }
        if kind not in others:
            raise ValueError(f"unknown message kind {kind!r}")
        return others[kind]

    # --- chats and messages -------------------------------------------------------------------

    def _chat(self, chat_id: int, info: JSON | None = None) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if info is None:
                # A chat the emulator never saw is taken to exist (the newsroom group, say).
                kind = "private" if chat_id > 0 else "supergroup"
                info = {"id": chat_id, "type": kind}
                info["first_name" if kind == "private" else "title"] = f"Chat {chat_id}"
            chat = self._chats[chat_id] = _Chat(info=dict(info))
        return chat

    def _remember_message(self, message: JSON) -> None:
        chat = self._chat(message["chat"]["id"], message["chat"])
        chat.next_message_id = max(chat.next_message_id, message["message_id"] + 1)
        for index, known in enumerate(chat.messages):
            if known["message_id"] == message["message_id"]:
                chat.messages[index] = copy.deepcopy(message)
                return
        chat.messages.append(copy.deepcopy(message))

    def _find_message(self, chat_id: int, message_id: int) -> JSON | None:
        chat = self._chats.get(chat_id)
        if chat is None:
            return None
        return next((m for m in chat.messages if m["message_id"] == message_id), None)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- HTTP: the Bot API --------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await _request_params(request)
        status, body = await self._call(request.match_info["method"], params, at)
        return web.json_response(body, status=status)

    async def take_webhook_answer(self, body: bytes) -> None:
        """What Telegram does with a webhook's 200: run the Bot API method its body names.

        The bot hears nothing back (Telegram says so), so an error is only kept in
        :attr:`calls`; a body that names no method is an empty acknowledgement.
        """
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            return
        if isinstance(params, dict) and isinstance(params.get("method"), str):
            name = params.pop("method")
            await self._call(name, params, time.monotonic(), via_webhook=True)

    async def _call(
        self, name: str, params: JSON, at: float, *, via_webhook: bool = False
    ) -> tuple[int, JSON]:
        method = _METHODS.get(name.lower())
        if method is None:
            self._record(Call(name, params, at, ok=False, error="Not Found"))
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        canonical, handler = method
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        try:
            self._inject_fault(canonical, params)
            result = await handler(self, params)
        except _APIError as error:
            failed = Call(canonical, params, at, ok=False, error=error.description)
            self._record(failed)
            return error.code, error.body()
        call = Call(canonical, params, at, via_webhook=via_webhook)
        self._record(call)
        if self.before_answering is not None and not via_webhook:
            await self.before_answering(call)
        return 200, {"ok": True, "result": result}

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    def _inject_fault(self, method: str, params: JSON) -> None:
        chat_id = _int_or_none(params.get("chat_id"))
        for fault in self._faults:
            if fault.method.lower() != method.lower() or fault.times <= 0:
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.times -= 1
            raise fault.error
        self._faults = [f for f in self._faults if f.times > 0]
        if method == "sendMessage" and chat_id in self._blocked:
            raise _APIError(403, "Forbidden: bot was blocked by the user")

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        stored = next((f for f in self._files.values() if f.file_path == path), None)
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.content, content_type=stored.mime_type)

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise _APIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_or_none(params.get("offset"))
        limit = min(max(_int_or_none(params.get("limit")) or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) or _DEFAULT_UPDATE_TYPES
        self._acknowledge(offset)
        # A newer getUpdates ends an older one still waiting, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            ready = self._deliverable(limit)
            if ready or self._closing or loop.time() >= deadline:
                break
            if generation != self._poll_generation:
                raise _APIError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            self.long_polls_waiting += 1
            try:
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
            except TimeoutError:
                continue
            finally:
                self.long_polls_waiting -= 1
        for pending in ready:
            pending.delivered = True
        return [copy.deepcopy(p.update) for p in ready]

    def _acknowledge(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
            return
        self._pending = [p for p in self._pending if not (p.delivered and p.update_id < offset)]

    def _deliverable(self, limit: int) -> list[_PendingUpdate]:
        def kind(pending: _PendingUpdate) -> str:
            return next(k for k in pending.update if k != "update_id")

        self._pending = [p for p in self._pending if kind(p) in self._allowed_updates]
        return self._pending[:limit]

    async def _set_webhook(self, params: JSON) -> bool:
        url = params.get("url") or ""
        if url and urlsplit(url).scheme != "https":
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _delete_webhook(self, params: JSON) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: JSON) -> JSON:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise _bad_request("BOT_COMMAND_INVALID")
        self.commands = commands
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self.commands

    async def _true(self, params: JSON) -> bool:
        return True

    async def _send_message(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        text, entities, source = _message_text(params, "text", MESSAGE_LIMIT)
        chat = self._chat(chat_id)
        message: JSON = {
            "message_id": chat.next_message_id,
            "from": dict(self.bot_user),
            "chat": dict(chat.info),
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        markup = _inline_markup(params.get("reply_markup"))
        if markup:
            message["reply_markup"] = markup
        reply = self._reply_target(chat_id, params)
        if reply is not None:
            message["reply_to_message"] = reply
        chat.next_message_id += 1
        chat.messages.append({**message, "text_html": source})
        return message

    def _reply_target(self, chat_id: int, params: JSON) -> JSON | None:
        parameters = params.get("reply_parameters") or {}
        message_id = _int_or_none(parameters.get("message_id") or params.get("reply_to_message_id"))
        if message_id is None:
            return None
        target = self._find_message(chat_id, message_id)
        if target is None:
            if parameters.get("allow_sending_without_reply"):
                return None
            raise _bad_request("message to be replied not found")
        reply = _without_extras(target)
        reply.pop("reply_to_message", None)
        return reply

    def _chat_id(self, params: JSON) -> int:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for known_id, chat in self._chats.items():
                if chat.info.get("username", "").lower() == chat_id[1:].lower():
                    return known_id
            raise _bad_request("chat not found")
        number = _int_or_none(chat_id)
        if number is None:
            raise _bad_request("chat_id is empty" if chat_id is None else "chat not found")
        return number

    def _bot_message(self, params: JSON) -> JSON:
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")
        chat_id = self._chat_id(params)
        message = self._find_message(chat_id, _int_or_none(params.get("message_id")) or 0)
        if message is None or message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad_request("message to edit not found")
        return message

    async def _edit_message_text(self, params: JSON) -> JSON:
        message = self._bot_message(params)
        text, entities, source = _message_text(params, "text", MESSAGE_LIMIT)
        markup = _inline_markup(params.get("reply_markup"))
        if (
            text == message.get("text")
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.update(text=text, text_html=source, edit_date=int(time.time()))
        _set_or_drop(message, "entities", entities)
        _set_or_drop(message, "reply_markup", markup)
        return _without_extras(message)

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        message = self._bot_message(params)
        markup = _inline_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        _set_or_drop(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return _without_extras(message)

    async def _answer_callback_query(self, params: JSON) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._callback_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._callback_queries.discard(query_id)
        if len(params.get("text") or "") > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        return True

    async def _answer_inline_query(self, params: JSON) -> bool:
        query_id = params.get("inline_query_id")
        if query_id not in self._inline_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        results = params.get("results") or []
        if len(results) > 50:
            raise _bad_request("RESULTS_TOO_MUCH")
        ids = [r.get("id") for r in results]
        if len(set(ids)) != len(ids):
            raise _bad_request("RESULT_ID_DUPLICATE")
        for result in results:
            content = result.get("input_message_content") or {}
            if "message_text" in content:
                _message_text(content, "message_text", MESSAGE_LIMIT)
            _inline_markup(result.get("reply_markup"))
        self._inline_queries.discard(query_id)
        return True

    async def _get_file(self, params: JSON) -> JSON:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    # --- HTTP: the sandbox chat page ----------------------------------------------------------

    async def _sandbox_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/sandbox/")

    async def _sandbox_page(self, request: web.Request) -> web.Response:
        return _asset_response(_SANDBOX_ASSETS / "index.html", "text/html")

    async def _sandbox_asset(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[1]
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return _asset_response(_SANDBOX_ASSETS / name, kind)

    async def _sandbox_chat(self, request: web.Request) -> web.Response:
        user_id = _sandbox_user(request.query.get("user_id"))
        messages = [self._sandbox_view(m) for m in self.chat_messages(user_id)]
        return web.json_response({"bot": self.bot_user, "messages": messages})

    async def _sandbox_send(self, request: web.Request) -> web.Response:
        _check_sandbox_request(request)
        form = await request.post()
        user_id = _sandbox_user(form.get("user_id"))
        text = str(form.get("text") or "")[:20_000]
        language = str(form.get("language_code") or "") or None
        upload = form.get("photo")
        picture = upload.file.read() if isinstance(upload, web.FileField) else b""
        if picture and not _is_image(picture):
            raise web.HTTPBadRequest(text="only JPEG, PNG, GIF or WebP pictures")
        if not text.strip() and not picture:
            raise web.HTTPBadRequest(text="type something or attach a picture")
        origin = None
        title = str(form.get("forward_title") or "").strip()[:128]
        if title:
            username = str(form.get("forward_username") or "").strip().lstrip("@")[:32] or None
            channel_id = -1_000_000_000_000 - (sum(title.encode()) % 1_000_000)
            origin = self.origin_channel(channel_id, title, username, next(self._ids))
        kind = "photo" if picture else "text"
        update = self.private_message(
            user_id,
            None if picture else text,
            language_code=language,
            forward_origin=origin,
            kind=kind,
            caption=text if picture else None,
            file=picture or None,
        )
        self.push_update(update)
        return web.json_response({"ok": True, "message_id": update["message"]["message_id"]})

    async def _sandbox_press(self, request: web.Request) -> web.Response:
        _check_sandbox_request(request)
        body = await request.json()
        user_id = _sandbox_user(body.get("user_id"))
        message = self._find_message(user_id, _int_or_none(body.get("message_id")) or 0)
        data = str(body.get("data") or "")
        buttons = [
            b
            for row in (message or {}).get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        if message is None or data not in {b.get("callback_data") for b in buttons}:
            raise web.HTTPBadRequest(text="no such button")
        self.push_update(self.callback_query(user_id, message, data))
        return web.json_response({"ok": True})

    async def _sandbox_media(self, request: web.Request) -> web.Response:
        stored = self._files.get(request.match_info["file_id"])
        if stored is None or not _is_image(stored.content):
            raise web.HTTPNotFound()
        return web.Response(
            body=stored.content,
            content_type=_image_type(stored.content),
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        )

    def _sandbox_view(self, message: JSON) -> JSON:
        """What the page needs to draw one bubble; the page renders entities itself."""
        photo = message.get("photo")
        origin = message.get("forward_origin") or {}
        origin_chat = origin.get("chat") or origin.get("sender_chat") or {}
        text = message.get("text", message.get("caption", ""))
        return {
            "message_id": message["message_id"],
            "outgoing": message.get("from", {}).get("id") == self.bot_user["id"],
            "text": text,
            "entities": message.get("entities", message.get("caption_entities", [])),
            "buttons": [
                [
                    {"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")}
                    for b in row
                ]
                for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            ],
            "photo": f"/sandbox/media/{photo[-1]['file_id']}" if photo else None,
            "forwarded_from": origin_chat.get("title")
            or origin.get("sender_user_name")
            or (origin.get("sender_user") or {}).get("first_name"),
            "edited": "edit_date" in message,
        }


_METHODS: dict[str, tuple[str, Callable[[BotAPIEmulator, JSON], Any]]] = {
    name.lower(): (name, handler)
    for name, handler in {
        "getMe": BotAPIEmulator._get_me,
        "getUpdates": BotAPIEmulator._get_updates,
        "setWebhook": BotAPIEmulator._set_webhook,
        "deleteWebhook": BotAPIEmulator._delete_webhook,
        "getWebhookInfo": BotAPIEmulator._get_webhook_info,
        "setMyCommands": BotAPIEmulator._set_my_commands,
        "getMyCommands": BotAPIEmulator._get_my_commands,
        "sendMessage": BotAPIEmulator._send_message,
        "editMessageText": BotAPIEmulator._edit_message_text,
        "editMessageReplyMarkup": BotAPIEmulator._edit_message_reply_markup,
        "answerCallbackQuery": BotAPIEmulator._answer_callback_query,
        "answerInlineQuery": BotAPIEmulator._answer_inline_query,
        "sendChatAction": BotAPIEmulator._true,
        "getFile": BotAPIEmulator._get_file,
        "close": BotAPIEmulator._true,
        "logOut": BotAPIEmulator._true,
    }.items()
}


async def _request_params(request: web.Request) -> JSON:
    pairs: list[tuple[str, Any]] = list(request.query.items())
    if request.method == "POST":
        if request.content_type == "application/json":
            body = await request.json()
            return {**_decode_params(pairs), **(body if isinstance(body, dict) else {})}
        form = await request.post()
        pairs.extend(
            (key, value if isinstance(value, str) else value.file.read())
            for key, value in form.items()
        )
    return _decode_params(pairs)


def _message_text(params: JSON, key: str, limit: int) -> tuple[str, list[JSON], str]:
    """Parse a message's text like Telegram: plain text, entities, and the text as sent."""
    source = params.get(key)
    if not isinstance(source, str):
        source = "" if source is None else str(source)
    parse_mode = (params.get("parse_mode") or "").lower()
    if parse_mode == "html":
        try:
            text, entities = parse_html(source)
        except HTMLParseError as error:
            raise _bad_request(f"can't parse entities: {error}") from None
    elif parse_mode in ("", "markdown", "markdownv2"):
        # Markdown modes are kept verbatim: the tip line speaks HTML only.
        text, entities = source, list(params.get("entities") or [])
    else:
        raise _bad_request("unsupported parse_mode")
    text, entities = _strip_text(text, entities)
    if not text:
        raise _bad_request("message text is empty")
    if len(text) > limit:
        raise _bad_request("message is too long")
    entities = sorted(
        entities + detect_entities(text, entities), key=lambda e: (e["offset"], -e["length"])
    )
    return text, entities, source


def _inline_markup(markup: Any) -> JSON | None:
    """The inline keyboard a message keeps; other keyboards are not part of the message."""
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for button in (b for row in rows for b in row):
        if not button.get("text"):
            raise _bad_request("BUTTON_TEXT_INVALID")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
            raise _bad_request("BUTTON_DATA_INVALID")
        url = button.get("url")
        if url is not None and _link_url(url) is None:
            raise _bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return {"inline_keyboard": rows} if rows else None


def _without_extras(message: JSON) -> JSON:
    """A message as Telegram shows it: without the emulator's own ``text_html``."""
    clean = copy.deepcopy(message)
    clean.pop("text_html", None)
    if clean.get("entities") == []:
        del clean["entities"]
    return clean


def _set_or_drop(message: JSON, key: str, value: Any) -> None:
    if value:
        message[key] = value
    else:
        message.pop(key, None)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _asset_response(path: Path, content_type: str) -> web.Response:
    return web.Response(
        text=path.read_text(encoding="utf-8"),
        content_type=content_type,
        charset="utf-8",
        headers={
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _check_sandbox_request(request: web.Request) -> None:
    """Only the page itself may post: the custom header forces a CORS preflight we never allow."""
    if request.headers.get("X-Sandbox") != "1":
        raise web.HTTPForbidden(text="sandbox requests come from the sandbox page")


def _sandbox_user(value: Any) -> int:
    number = _int_or_none(value if value is None or isinstance(value, int) else str(value))
    return number if number is not None and 0 < number < 2**52 else _SANDBOX_USER_ID


_IMAGE_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def _image_type(content: bytes) -> str:
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _IMAGE_MAGIC.items() if content.startswith(magic)), "")


def _is_image(content: bytes) -> bool:
    return bool(_image_type(content))
