"""Every public reply the handlers can send is translated in every catalog, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from handlers.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
KEYWORDS = {"gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"{(\w*)}")


def _messages_in_code() -> set[str]:
    found = extract_from_dir(str(HANDLERS), keywords=KEYWORDS, comment_tags=())
    return {message if isinstance(message, str) else message[0] for *_, message, _, _ in found}


MESSAGES = _messages_in_code()


def test_the_code_has_messages_to_translate() -> None:
    assert "Is this the post you saw?" in MESSAGES
    assert len(MESSAGES) > 30


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED_LANGUAGES if lang != "en"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    assert language != DEFAULT_LANGUAGE
    path = HANDLERS / "locales" / language / "LC_MESSAGES" / "tipline.po"
    with path.open("rb") as po:
        catalog = read_po(po)
    for message in MESSAGES:
        entry = catalog.get(message) or next(
            (m for m in catalog if isinstance(m.id, tuple) and m.id[0] == message), None
        )
        assert entry is not None, f"{language}: {message!r} is missing"
        translations = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(translations), f"{language}: {message!r} is untranslated"
        wanted = set(PLACEHOLDER.findall(message))
        for translation in translations:
            assert set(PLACEHOLDER.findall(translation)) == wanted, f"{language}: {message!r}"
