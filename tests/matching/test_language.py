"""Language detection: the same answer every time, and "und" or the sender's app, not a guess."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langdetect import DetectorFactory
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import LangDetectException

from matching import UNDETERMINED, detect_language
from matching.language import _probabilities

SENTENCES = {
    "de": "Die Banken schließen am Montag, heben Sie Ihr Geld sofort ab, bevor es zu spät ist.",
    "en": "The banks will close on Monday, so withdraw all your money today before it is late.",
    "ru": "В понедельник банки закроются, срочно снимите все деньги со своих счетов.",
    "uk": "У понеділок банки закриються, терміново зніміть усі гроші зі своїх рахунків.",
    "ar": "ستغلق البنوك يوم الاثنين، اسحبوا أموالكم كلها اليوم قبل فوات الأوان.",
    "es": "Los bancos cerrarán el lunes, retira todo tu dinero hoy antes de que sea tarde.",
    "tr": "Bankalar pazartesi günü kapanacak, çok geç olmadan bugün bütün paranızı çekin.",
}


@pytest.mark.parametrize(("lang", "sentence"), SENTENCES.items())
def test_sentences_are_detected_in_their_language(lang: str, sentence: str) -> None:
    assert detect_language(sentence) == lang


@pytest.mark.parametrize(("lang", "sentence"), SENTENCES.items())
def test_a_confident_detection_overrides_the_senders_app_language(lang: str, sentence: str) -> None:
    other = "ja" if lang != "ja" else "ko"
    assert detect_language(sentence, fallback=other) == lang


def test_detection_is_deterministic() -> None:
    # Borderline text, where an unseeded langdetect changes its mind between calls.
    text = "Das ist ein sehr kurzer Satz mit ein paar english words inside"
    assert len({detect_language(text) for _ in range(20)}) == 1


@pytest.mark.parametrize(
    ("text", "fallback", "expected"),
    [
        ("Hallo!", "de-AT", "de"),
        ("Hola", "es_MX", "es"),
        ("ok", "EN", "en"),
        ("Привет", "uk", "uk"),
        ("Hallo!", None, UNDETERMINED),
        ("Hallo!", "", UNDETERMINED),
        ("Hallo!", "x-klingon", UNDETERMINED),  # not a language subtag
        ("Hallo!", "1234", UNDETERMINED),
    ],
)
def test_short_texts_fall_back_to_the_senders_language_code(
    text: str, fallback: str | None, expected: str
) -> None:
    assert detect_language(text, fallback) == expected


@pytest.mark.parametrize(
    "text",
    ["", "😀🔥🙏😡" * 10, "!!! ??? ... ###", "1234567890 " * 20, "https://t.me/x?1=2"],
)
def test_texts_without_enough_letters_are_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_only_the_first_2000_characters_are_read() -> None:
    text = SENTENCES["de"] * 30 + SENTENCES["ru"] * 300
    assert detect_language(text) == "de"


def test_ukrainian_letters_settle_ukrainian_against_russian() -> None:
    assert detect_language("Це правда, що завтра всі банки закриються і гроші зникнуть?") == "uk"


@pytest.fixture(scope="module")
def langdetect_itself() -> Callable[[str], dict[str, float]]:
    """langdetect as its README has it: its own factory, profiles and detector, seeded."""
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)

    def probabilities(text: str) -> dict[str, float]:
        detector = factory.create()
        detector.append(text)
        try:
            return {found.lang: found.prob for found in detector.get_probabilities()}
        except LangDetectException:
            return {}

    return probabilities


HARD_TEXTS = [
    *SENTENCES.values(),
    "Das ist ein sehr kurzer Satz mit ein paar english words inside",
    "mixed Deutsch und English avec un peu de français и немного русского",
    "Faktencheck: Falsch. Behauptung: Bill Gates will die Menschheit chippen.",
    "<b>Breaking</b> **NEWS** [click](https://t.me/x) \u202eevil\u202c text here",
    "中文文本测试一下这个系统的能力，银行周一关门",
    "日本語のテキストです。銀行は月曜日に閉まります。",
    "Ελληνικά: οι τράπεζες κλείνουν τη Δευτέρα",
    "aaaa bbbb cccc dddd eeee ffff",
    "x",
    "12345 !!! ???",
]


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_probabilities_are_langdetects_own_bit_for_bit(
    langdetect_itself: Callable[[str], dict[str, float]], text: str
) -> None:
    """The profiles are kept compact (matching.language._Profiles), the answers unchanged."""
    assert _probabilities.__wrapped__(text) == langdetect_itself(text)
