"""Normalisation and tokenisation: the edits rumours pick up in transit must not split copies."""

from __future__ import annotations

import pytest

from matching import canonical_url, extract_links, normalize_text, strip_invisible, tokenize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＮＡＴＯ ｒｕｔｔｅ", "nato rutte"),  # full-width letters
        ("ﬁnanzamt ﬂug", "finanzamt flug"),  # ligatures fi, fl
        ("５Ｇ", "5g"),  # full-width digit
        ("Ⅻ", "xii"),  # roman numeral compatibility form
    ],
)
def test_compatibility_forms_become_plain_letters(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\xad",
    ],
)
def test_zero_width_and_bidi_controls_are_removed_inside_words(invisible: str) -> None:
    assert normalize_text(f"ban{invisible}ks clo{invisible}se") == "banks close"
    assert strip_invisible(f"a{invisible}b") == "ab"


def test_rtl_override_cannot_reverse_a_word_in_the_normalised_text() -> None:
    # The override changes only how a word is displayed; the stored letters stay in order.
    assert normalize_text("\u202eknab\u202c closes") == "knab closes"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Straße STRASSE", "strasse strasse"),
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),  # final sigma folds to sigma
        # Casefold is language-blind: dotted capital I keeps its dot as a combining mark,
        # dotless capital I becomes a dotted i. Turkish copies still agree with each other.
        ("İSTANBUL", "i\u0307stanbul"),
        ("IŞIK", "işik"),
        ("ışık", "ışık"),
    ],
)
def test_casefold(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_whitespace_of_every_kind_collapses_to_single_spaces() -> None:
    assert (
        normalize_text("  banks\t\tclose\n\non\u00a0\u2003monday \r\n") == "banks close on monday"
    )


@pytest.mark.parametrize(
    ("shared", "canonical"),
    [
        ("https://example.org/story?utm_source=tg&utm_medium=x&utm_campaign=y", "https://example.org/story"),
        ("https://example.org/story?fbclid=IwAR0abc", "https://example.org/story"),
        ("https://youtu.be/abc?si=XyZ123", "https://youtu.be/abc"),
        ("https://example.org/a?gclid=1&igshid=2&ref=home", "https://example.org/a"),
        ("https://example.org/a?id=7&utm_source=x", "https://example.org/a?id=7"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        ("HTTPS://Example.ORG:443/a/?b=2&a=1#comments", "https://example.org/a?a=1&b=2"),
        ("www.example.org/a", "http://www.example.org/a"),
    ],
)  # fmt: skip
def test_links_lose_tracking_parameters_and_keep_meaningful_ones(
    shared: str, canonical: str
) -> None:
    assert canonical_url(shared) == canonical
    assert normalize_text(f"look {shared} now") == f"look {canonical.casefold()} now"


def test_links_are_extracted_once_each_without_trailing_punctuation() -> None:
    text = "See https://example.org/a?utm_source=x, and (https://example.org/a). Also www.b.org!"
    assert extract_links(text) == ["https://example.org/a", "http://www.b.org"]


def test_copies_shared_with_different_tracking_normalise_equal() -> None:
    first = "Banks close Monday https://news.example/b?id=3&utm_source=telegram"
    second = "Banks close Monday https://news.example/b?fbclid=xyz&id=3"
    assert normalize_text(first) == normalize_text(second)


@pytest.mark.parametrize(
    "boilerplate",
    [
        "Forwarded from Truth Channel",
        "forwarded message",
        "Переслано от Правда 24",
        "Переслано з Новини",
        "Weitergeleitet von Wahrheit Kanal",
        "Reenviado de Verdad",
        "Mensaje reenviado",
        "Transféré de Vérité",
        "Şuradan iletildi Gerçek",
        "تمت إعادة توجيهه من قناة الحقيقة",
    ],
)
def test_forwarded_from_lines_are_removed(boilerplate: str) -> None:
    assert normalize_text(f"{boilerplate}\nBanks close on Monday") == "banks close on monday"


def test_forwarded_from_in_the_middle_of_a_sentence_is_kept() -> None:
    assert normalize_text("He said it was forwarded from Kyiv") == (
        "he said it was forwarded from kyiv"
    )


@pytest.mark.parametrize(
    ("tricked", "plain"),
    [
        ("p\u0430yp\u0430l", "paypal"),  # Cyrillic а in a Latin word
        ("N\u0410T\u041e", "nato"),  # Cyrillic А and О in upper case
        ("withdr\u0430w y\u043eur m\u043en\u0435y", "withdraw your money"),
    ],
)
def test_a_latin_word_with_cyrillic_look_alikes_folds_to_latin(tricked: str, plain: str) -> None:
    assert normalize_text(tricked) == plain


@pytest.mark.parametrize(
    ("tricked", "plain"),
    [
        ("пpивет", "привет"),  # Latin p in a Cyrillic word
        ("вaкцинa", "вакцина"),  # Latin a twice
        ("бaнки", "банки"),
    ],
)
def test_a_cyrillic_word_with_latin_look_alikes_folds_to_cyrillic(tricked: str, plain: str) -> None:
    assert normalize_text(tricked) == plain


@pytest.mark.parametrize(("tricked", "plain"), [("Мoсква", "москва"), ("тeкст", "текст")])
def test_a_cyrillic_word_of_only_look_alike_letters_folds_to_cyrillic(
    tricked: str, plain: str
) -> None:
    assert normalize_text(tricked) == plain


def test_honest_words_in_either_alphabet_are_left_alone() -> None:
    assert normalize_text("кот cat Москва") == "кот cat москва"


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Banks close on Monday, 2025!", ["banks", "close", "on", "monday", "2025"]),
        ("Банки закроются в понедельник", ["банки", "закроются", "понедельник"]),
        ("Οι τράπεζες κλείνουν τη Δευτέρα", ["οι", "τράπεζεσ", "κλείνουν", "τη", "δευτέρα"]),
        ("مُحَمَّدٌ قَالَ", ["محمد", "قال"]),  # harakat removed
        ("البنـــوك", ["البنوك"]),  # tatweel removed
        ("銀行が閉まる", ["銀行", "行が", "が閉", "閉ま", "まる"]),  # character pairs
        ("中", ["中"]),  # a lone CJK character is a token
        ("5G 5 g", ["5g", "5"]),  # digits kept, single Latin letters dropped
        ("the_bank", ["thebank"]),
    ],
)
def test_tokenize_by_script(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_tokenize_sees_through_invisible_and_look_alike_edits() -> None:
    assert tokenize("Forwarded from X\nB\u200bа\u200dnks сlose") == tokenize("banks close")
