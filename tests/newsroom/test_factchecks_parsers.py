"""Every format a desk publishes in parses to the same records; broken input gives reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from matching.normalize import canonical_url
from newsroom.factchecks import (
    Parsed,
    UnreadableSourceError,
    detect_format,
    extract_plain_text,
    parse_claim_review_jsonld,
    parse_csv,
    parse_document,
    parse_feed,
    parse_html,
    parse_jsonl,
)
from storage.models import Rating

FIXTURES = Path(__file__).with_name("fixtures")


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _only(parsed: Parsed) -> object:
    assert parsed.rejected == []
    assert len(parsed.records) == 1
    return parsed.records[0][1]


def test_article_with_claim_review_gives_the_rutte_fact_check() -> None:
    record = _only(parse_html(_read("claimreview_article.html"), source="article.html"))
    assert record.url == canonical_url(
        "https://example.org/faktencheck/2024/11/12/rutte-nato-ausschluss-usa/"
    )
    assert record.claim_reviewed.startswith("NATO-Generalsekretär Mark Rutte hat gedroht")
    assert (record.rating, record.rating_text) == (Rating.FALSE, "Falsch")
    assert record.headline == "Nein, Rutte hat nicht mit einem NATO-Ausschluss der USA gedroht"
    assert (record.publisher, record.language) == ("Beispiel-Faktencheck", "de")
    assert record.published_at == datetime(2024, 11, 12, 9, 15, tzinfo=UTC)
    assert record.summary.startswith("Ein angebliches Zitat")
    assert (record.extracted, record.needs_review, record.source) == (False, False, "article.html")


def test_graph_markup_with_numeric_rating_and_author_list() -> None:
    record = _only(parse_html(_read("claimreview_graph.html")))
    assert record.url == canonical_url("https://example.net/pruefung/foto-demonstration/")
    assert (record.rating, record.rating_text) == (Rating.MOSTLY_FALSE, None)  # 2 of 1..5
    assert (record.publisher, record.author) == ("Beispiel-Prüfstelle", "Erika Musterfrau")
    assert record.language == "de"
    assert record.image_url == "https://example.net/bilder/demo-foto.jpg"


def test_page_with_two_claim_reviews_gives_both() -> None:
    parsed = parse_html(_read("two_claimreviews.html"))
    assert parsed.rejected == []
    assert [(r.url, r.rating) for _, r in parsed.records] == [
        (canonical_url("https://example.com/checks/hot-water-virus"), Rating.FALSE),
        (canonical_url("https://example.com/checks/bank-holiday-message"), Rating.MOSTLY_FALSE),
    ]
    assert parsed.records[1][1].author == "Sam Reporter"


def test_article_without_markup_states_claim_and_verdict_in_plain_text() -> None:
    record = _only(parse_html(_read("plain_text_article.html")))
    assert record.extracted is True
    assert record.needs_review is False
    assert record.claim_reviewed.startswith("Mark Rutte habe gedroht")
    # The headline "Faktencheck: Hat Rutte ...?" is a label too, but not the verdict.
    assert (record.rating, record.rating_text) == (Rating.FALSE, "Falsch")
    assert record.headline == "Faktencheck: Hat Rutte den USA mit dem NATO-Ausschluss gedroht?"
    assert record.url == canonical_url("https://example.com/faktencheck/rutte-drohung-nato/")
    assert (record.publisher, record.language) == ("Beispiel-Nachrichten", "de")
    assert record.published_at == datetime(2024, 11, 13, 6, 45, tzinfo=UTC)


def test_article_with_neither_markup_nor_labels_is_rejected_with_a_reason() -> None:
    parsed = parse_html(_read("no_markup_article.html"), page_url="https://example.com/bridge")
    assert parsed.records == []
    assert parsed.rejected == [
        ("https://example.com/bridge", "no ClaimReview markup and no plain-text claim and verdict")
    ]


def test_invalid_json_ld_script_is_mentioned_when_nothing_else_is_found() -> None:
    page = '<html><script type="application/ld+json">{"@type": "ClaimReview",</script></html>'
    parsed = parse_html(page, page_url="https://example.com/x")
    assert "1 JSON-LD script(s) were invalid JSON" in parsed.rejected[0][1]


def test_claim_review_wrapped_in_an_html_comment_inside_the_script_is_read() -> None:
    page = (
        '<html><head><script type="application/ld+json"><!--\n{"@type": "ClaimReview", '
        '"url": "https://example.com/c", "claimReviewed": "x", '
        '"reviewRating": {"alternateName": "Faux"}}\n--></script></head></html>'
    )
    assert _only(parse_html(page)).rating == Rating.FALSE


def test_standalone_json_ld_and_claim_taken_from_item_reviewed() -> None:
    record = _only(parse_claim_review_jsonld(_read("claimreview.json")))
    assert (record.rating, record.language, record.publisher) == (
        Rating.FALSE,
        "es",
        "Ejemplo Verifica",
    )
    nested = parse_claim_review_jsonld(
        '{"@graph": [{"@type": "schema:ClaimReview", "url": "https://example.com/n", '
        '"itemReviewed": {"@type": "Claim", "name": "Claim from itemReviewed"}}]}'
    )
    assert _only(nested).claim_reviewed == "Claim from itemReviewed"
    assert _only(nested).rating == Rating.OTHER


def test_claim_review_without_url_or_claim_is_rejected() -> None:
    parsed = parse_claim_review_jsonld(
        '[{"@type": "ClaimReview", "claimReviewed": "no link"},'
        ' {"@type": "ClaimReview", "url": "https://example.com/a"}]',
        source="list.json",
    )
    assert parsed.records == []
    assert parsed.rejected == [
        ("list.json ClaimReview 1", "missing url"),
        ("list.json ClaimReview 2", "missing claim_reviewed"),
    ]


def test_broken_json_is_unreadable() -> None:
    with pytest.raises(UnreadableSourceError, match="invalid JSON"):
        detect_format(_read("broken.json"), name="broken.json")


def test_fact_check_tools_json_gives_one_record_per_review() -> None:
    parsed = parse_document(
        _read("factchecktools.json"), kind="fact_check_tools", source="tools.json"
    )
    assert [(r.url, r.rating, r.language, r.publisher) for _, r in parsed.records] == [
        (canonical_url(url), rating, language, publisher)
        for url, rating, language, publisher in [
            (
                "https://example.com/fact-check/rutte-nato-expel-usa",
                Rating.FALSE,
                "en",
                "Example Checks",
            ),
            ("https://example.fr/verification/rutte-otan", Rating.FALSE, "fr", "Exemple Vérif"),
        ]
    ]
    assert parsed.records[0][1].claim_reviewed.startswith("Mark Rutte threatened")
    assert parsed.rejected == [("tools.json claims[1].claimReview[0]", "missing url")]


def test_json_lines_keep_good_lines_and_reject_bad_ones_with_reasons() -> None:
    parsed = parse_jsonl(_read("factchecks.jsonl"), source="f.jsonl")
    records = dict(parsed.records)
    assert list(records) == ["f.jsonl:1", "f.jsonl:2", "f.jsonl:4"]
    assert records["f.jsonl:2"].url == canonical_url(
        "https://example.org/fact-check/free-mobile-data"
    )
    assert records["f.jsonl:2"].image_url == "https://example.org/images/free-data.png"
    unknown = records["f.jsonl:4"]
    assert (unknown.rating, unknown.rating_text) == (Rating.OTHER, "Zweifelhaft, wir prüfen weiter")
    reasons = dict(parsed.rejected)
    assert reasons["f.jsonl:3"] == "missing url"
    assert reasons["f.jsonl:5"].startswith("invalid JSON")
    assert reasons["f.jsonl:6"].startswith("published_at is not an ISO 8601 date")


def test_csv_with_bom_and_quoted_fields() -> None:
    parsed = parse_csv(_read("factchecks.csv"), source="f.csv")
    assert [(r.language, r.rating) for _, r in parsed.records] == [
        ("ru", Rating.FALSE),
        ("tr", Rating.FALSE),
    ]
    assert parsed.records[1][1].claim_reviewed == (
        'Belediye başkanı "Vergi ödemeyenlerin suyu kesilecek" dedi.'
    )
    assert parsed.records[1][1].author is None  # empty cell
    assert parsed.rejected == [("f.csv:4", "missing claim_reviewed")]


def test_csv_without_the_required_columns_is_unreadable() -> None:
    with pytest.raises(UnreadableSourceError, match="claim_reviewed"):
        parse_csv("link,text\nhttps://example.com,x\n")


def test_rss_and_atom_entries() -> None:
    rss = parse_feed(_read("feed.rss"))
    assert (rss.title, rss.language, len(rss.entries)) == ("Beispiel-Faktencheck", "de", 4)
    first = rss.entries[0]
    assert first.link == "__BASE__/articles/claimreview_article.html"
    assert first.summary == "Ein angebliches Zitat verbreitet sich auf Telegram."
    assert first.author == "Beispiel-Redaktion"
    assert first.published_at == datetime(2024, 11, 12, 9, 15, tzinfo=UTC)
    atom = parse_feed(_read("feed.atom"))
    assert (atom.title, atom.language) == ("Example Fact Desk", "en")
    assert [entry.link for entry in atom.entries] == [
        "__BASE__/articles/two_claimreviews.html",
        "__BASE__/articles/claimreview_graph.html",
    ]
    assert atom.entries[0].author == "Sam Reporter"


def test_feed_with_entity_expansion_is_refused() -> None:
    with pytest.raises(UnreadableSourceError, match="DTDForbidden"):
        parse_feed(_read("entity_bomb.rss"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claimreview_article.html", "html"),
        ("claimreview_graph.html", "html"),
        ("plain_text_article.html", "html"),
        ("claimreview.json", "jsonld"),
        ("factchecktools.json", "fact_check_tools"),
        ("factchecks.jsonl", "jsonl"),
        ("factchecks.csv", "csv"),
        ("feed.rss", "feed"),
        ("feed.atom", "feed"),
    ],
)
def test_format_is_detected_from_content(name: str, expected: str) -> None:
    assert detect_format(_read(name), name="source.bin") == expected


def test_hints_settle_what_content_cannot() -> None:
    one_line = b'{"url": "https://example.com/a", "claim_reviewed": "x"}\n'
    assert detect_format(one_line, name="x.jsonl") == "jsonl"
    assert detect_format(one_line) == "jsonl"  # our fields, not ClaimReview
    assert detect_format(b"link;text\n", content_type="text/csv; charset=utf-8") == "csv"
    with pytest.raises(UnreadableSourceError, match="unrecognised format"):
        detect_format(b"just some words")


@pytest.mark.parametrize(
    ("lines", "claim", "verdict"),
    [
        (
            ["Claim: Hot water kills the virus.", "Verdict: False."],
            "Hot water kills the virus.",
            "False",
        ),
        (
            ["Claim:", "Banks close on Monday.", "Rating: Mostly False"],
            "Banks close on Monday.",
            "Mostly False",
        ),
        (
            ["Afirmación: El agua caliente mata el virus.", "Veredicto: Falso"],
            "El agua caliente mata el virus.",
            "Falso",
        ),
        (
            ["Affirmation : La photo date de cette semaine.", "Verdict : Trompeur"],
            "La photo date de cette semaine.",
            "Trompeur",
        ),
        (["Утверждение: Банки закроются.", "Вердикт: Фейк"], "Банки закроются.", "Фейк"),
        (
            ["Твердження: Уряд дарує інтернет.", "Вердикт: Неправда"],
            "Уряд дарує інтернет.",
            "Неправда",
        ),
        (["İddia: Başkan bu sözü söyledi.", "Sonuç: Yanlış"], "Başkan bu sözü söyledi.", "Yanlış"),
        (["الادعاء: أمر إخلاء رسمي.", "الحكم: زائف"], "أمر إخلاء رسمي.", "زائف"),
        (
            ["Behauptung", "Rutte drohte den USA.", "Bewertung", "Falsch"],
            "Rutte drohte den USA.",
            "Falsch",
        ),
        (["Behauptung: Ohne Bewertung."], "Ohne Bewertung.", None),
    ],
)
def test_plain_text_claim_and_verdict_in_each_language(
    lines: list[str], claim: str, verdict: str | None
) -> None:
    assert extract_plain_text(lines) == (claim, verdict)


def test_text_without_a_claim_label_extracts_nothing() -> None:
    assert extract_plain_text(["Verdict: False", "Some paragraph."]) is None
