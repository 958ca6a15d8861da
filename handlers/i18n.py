"""The public's languages: gettext catalogs (``handlers/locales/<lang>/LC_MESSAGES/tipline.po``).

Catalogs are read from the ``.po`` files with Babel at start-up, so a checkout needs no
compile step. Which language a reply uses: the sender's own choice (``/language``), else
Telegram's ``language_code``, else English.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

__all__ = ["LANGUAGE_NAMES", "SUPPORTED_LANGUAGES", "Translator", "pick_language", "translator"]

_LOCALES = Path(__file__).with_name("locales")
_DOMAIN = "tipline"

# Each language named in itself, for the /language buttons.
LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "fr": "Français",
    "ru": "Русский",
    "uk": "Українська",
    "ar": "العربية",
    "tr": "Türkçe",
}
SUPPORTED_LANGUAGES = tuple(LANGUAGE_NAMES)
DEFAULT_LANGUAGE = "en"


def pick_language(chosen: str | None, telegram_code: str | None) -> str:
    """The reply language: the sender's choice, else their Telegram app's, else English."""
    for candidate in (chosen, telegram_code):
        if candidate:
            primary = candidate.replace("_", "-").split("-")[0].lower()
            if primary in LANGUAGE_NAMES:
                return primary
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translator:
    """gettext and ngettext for one language, falling back to the English source text."""

    language: str
    _messages: dict[str, str | tuple[str, ...]]
    _plural: Callable[[int], int]

    def gettext(self, message: str) -> str:
        found = self._messages.get(message)
        return found if isinstance(found, str) and found else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self._messages.get(singular)
        if isinstance(forms, tuple) and all(forms):
            index = self._plural(n)
            return forms[min(index, len(forms) - 1)]
        return singular if n == 1 else plural


@cache
def translator(language: str) -> Translator:
    path = _LOCALES / language / "LC_MESSAGES" / f"{_DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return Translator(DEFAULT_LANGUAGE, {}, lambda n: 0 if n == 1 else 1)
    with path.open("rb") as file:
        catalog = read_po(file, locale=language)
    messages: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple | list):
            messages[message.id[0]] = tuple(message.string)
        else:
            messages[message.id] = message.string
    return Translator(language, messages, gettext.c2py(catalog.plural_expr))
