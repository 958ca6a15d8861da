"""Published fact-checks: read every format desks publish in, import them, keep feeds in sync.

The tip line is only as good as the debunks it can cite, and those arrive as ClaimReview
markup (alone or inside an article page), Fact Check Tools API exports, our own JSON Lines or
CSV, and RSS/Atom feeds of articles. Parsers here are pure: bytes in, :class:`FactCheckRecord`
values and reasons for what was rejected out. A source is parsed completely before anything is
written, then written in one transaction, so a failure never leaves half a source behind,
while one bad record never stops the good ones beside it.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
from defusedxml import DefusedXmlException

from matching.normalize import canonical_url
from newsroom.fetch import Fetcher, FetchError
from newsroom.ratings import fold, normalise_rating
from storage import factchecks as repository
from storage.db import Database
from storage.models import Rating

__all__ = [
    "FactCheckRecord",
    "FeedDocument",
    "FeedEntry",
    "ImportReport",
    "Parsed",
    "SourceFormat",
    "UnreadableSourceError",
    "detect_format",
    "extract_plain_text",
    "import_records",
    "import_sources",
    "load_demo_fact_checks",
    "parse_claim_review_jsonld",
    "parse_csv",
    "parse_document",
    "parse_fact_check_tools",
    "parse_feed",
    "parse_html",
    "parse_jsonl",
    "sync_feeds",
]

SourceFormat = Literal["jsonld", "html", "fact_check_tools", "jsonl", "csv", "feed"]
Rejection = tuple[str, str]

_URL_MAX = 2048
_SHORT_MAX = 255
_FEED_PAGE_CONCURRENCY = 4
_JSON_DEPTH = 40


class UnreadableSourceError(Exception):
    """A whole source cannot be read or recognised; the message is the reason we report."""


class _RejectedError(Exception):
    """One record is unusable; the message is the reason we report."""


@dataclass(frozen=True, slots=True)
class FactCheckRecord:
    """One published fact-check as parsed, before it meets the database."""

    url: str
    claim_reviewed: str
    rating: str
    rating_text: str | None = None
    headline: str | None = None
    publisher: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    summary: str | None = None
    image_url: str | None = None
    extracted: bool = False
    needs_review: bool = False
    source: str | None = None


@dataclass
class Parsed:
    """What one source yielded: records with where each came from, and what was rejected."""

    records: list[tuple[str, FactCheckRecord]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        self.records.extend(other.records)
        self.rejected.extend(other.rejected)


@dataclass
class ImportReport:
    """Counts for the CLI and the scheduler; ``fact_check_ids`` are rows to match against
    open claims (new or updated ones only)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    fact_check_ids: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.new + self.updated + self.unchanged

    @property
    def all_rejected(self) -> bool:
        """Something was offered and nothing of it could be used (the CLI exits 1)."""
        return bool(self.rejected) and self.accepted == 0

    def add(self, other: ImportReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)
        self.fact_check_ids.extend(other.fact_check_ids)

    def summary(self) -> str:
        return (
            f"fact-checks: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.rejected)} rejected"
        )


# --- Field cleaning --------------------------------------------------------------------------


def _text(value: Any, name: str, *, limit: int | None = None) -> str | None:
    """Trimmed single-spaced text, entities decoded; numbers allowed, structures refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _RejectedError(f"{name} must be text, not {type(value).__name__}")
    cleaned = " ".join(html.unescape(str(value)).split())
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned or None


def _paragraphs(value: Any, name: str) -> str | None:
    """Like :func:`_text` but keeps paragraph breaks, for summaries."""
    if value is None:
        return None
    if not isinstance(value, str):
        return _text(value, name)
    lines = (" ".join(line.split()) for line in html.unescape(value).splitlines())
    return "\n".join(line for line in lines if line) or None


def _http_url(value: Any, name: str) -> str | None:
    url = _text(value, name)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _RejectedError(f"{name} is not an http(s) URL: {url[:200]!r}")
    if len(url) > _URL_MAX:
        raise _RejectedError(f"{name} is longer than {_URL_MAX} characters")
    return url


def _language(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("alternateName") or value.get("name")
    if not isinstance(value, str):
        return None
    primary = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def _date(value: Any, name: str, *, strict: bool) -> datetime | None:
    """An aware datetime from ISO 8601 or an RFC 822 feed date; naive means UTC."""
    if value is None or value == "":
        return None
    parsed: datetime | None = None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                parsed = parsedate_to_datetime(value.strip())
            except (TypeError, ValueError, IndexError):
                parsed = None
    if parsed is None:
        if strict:
            raise _RejectedError(f"{name} is not an ISO 8601 date: {str(value)[:40]!r}")
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None


def _record(
    *,
    url: Any,
    claim_reviewed: Any,
    rating_text: Any = None,
    rating_value: float | None = None,
    best: float | None = None,
    worst: float | None = None,
    headline: Any = None,
    publisher: Any = None,
    language: Any = None,
    published_at: datetime | None = None,
    author: Any = None,
    summary: Any = None,
    image_url: Any = None,
    extracted: bool = False,
    needs_review: bool = False,
    source: str | None = None,
) -> FactCheckRecord:
    """A validated record, or :class:`_RejectedError` saying what is missing."""
    checked_url = _http_url(url, "url")
    if checked_url is None:
        raise _RejectedError("missing url")
    claim = _text(claim_reviewed, "claim_reviewed")
    if claim is None:
        raise _RejectedError("missing claim_reviewed")
    verdict = _text(rating_text, "rating", limit=_SHORT_MAX)
    try:
        image = _http_url(image_url, "image")
    except _RejectedError:
        image = None  # a broken illustration is no reason to lose the fact-check
    return FactCheckRecord(
        url=canonical_url(checked_url),
        claim_reviewed=claim,
        rating=normalise_rating(verdict, rating_value, best, worst),
        rating_text=verdict,
        headline=_text(headline, "headline"),
        publisher=_text(publisher, "publisher", limit=_SHORT_MAX),
        language=_language(language),
        published_at=published_at,
        author=_text(author, "author", limit=_SHORT_MAX),
        summary=_paragraphs(summary, "summary"),
        image_url=image,
        extracted=extracted,
        needs_review=needs_review,
        source=_text(source, "source", limit=_URL_MAX),
    )


# --- ClaimReview JSON-LD ---------------------------------------------------------------------


def _is_type(node: dict[str, Any], wanted: str) -> bool:
    types = node.get("@type")
    names = types if isinstance(types, list) else [types]
    return any(isinstance(name, str) and re.split(r"[/:#]", name)[-1] == wanted for name in names)


def _claim_reviews(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every ClaimReview in a JSON-LD tree: lists, ``@graph``, or nested in a page's nodes."""
    if depth > _JSON_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _claim_reviews(item, depth + 1)
    elif isinstance(node, dict):
        if _is_type(node, "ClaimReview"):
            yield node
            return
        for value in node.values():
            yield from _claim_reviews(value, depth + 1)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _first_dict(value: Any) -> dict[str, Any]:
    return next((item for item in _as_list(value) if isinstance(item, dict)), {})


def _organisation(value: Any) -> str | None:
    """The reviewing organisation among ``author``/``publisher`` (an object or a list)."""
    candidates = [item for item in _as_list(value) if isinstance(item, dict) and item.get("name")]
    organisations = [item for item in candidates if not _is_type(item, "Person")]
    chosen = organisations[0] if organisations else None
    return chosen["name"] if chosen and isinstance(chosen["name"], str) else None


def _people(value: Any) -> str | None:
    names = [
        item["name"] if isinstance(item, dict) else item
        for item in _as_list(value)
        if (
            isinstance(item, dict)
            and _is_type(item, "Person")
            and isinstance(item.get("name"), str)
        )
        or isinstance(item, str)
    ]
    return ", ".join(names) or None


def _image(value: Any) -> str | None:
    first = _as_list(value)[0] if _as_list(value) else None
    if isinstance(first, dict):
        first = first.get("url") or first.get("contentUrl")
    return first if isinstance(first, str) else None


@dataclass(frozen=True, slots=True)
class _Page:
    """What an article page says about itself, to fill what its ClaimReview leaves out."""

    url: str | None = None
    title: str | None = None
    site_name: str | None = None
    language: str | None = None
    published: str | None = None
    author: str | None = None
    description: str | None = None
    image: str | None = None


def _from_claim_review(review: dict[str, Any], page: _Page, source: str | None) -> FactCheckRecord:
    verdict = _first_dict(review.get("reviewRating"))
    item = _first_dict(review.get("itemReviewed"))
    claim = review.get("claimReviewed") or next(
        (item[key] for key in ("name", "text", "description") if isinstance(item.get(key), str)),
        None,
    )
    published = review.get("datePublished") or page.published
    return _record(
        url=review.get("url") or page.url,
        claim_reviewed=claim,
        rating_text=verdict.get("alternateName") or verdict.get("name"),
        rating_value=_number(verdict.get("ratingValue")),
        best=_number(verdict.get("bestRating")),
        worst=_number(verdict.get("worstRating")),
        headline=review.get("headline") or review.get("name") or page.title,
        publisher=_organisation(review.get("author"))
        or _organisation(review.get("publisher"))
        or page.site_name,
        language=_language(review.get("inLanguage")) or page.language,
        published_at=_date(published, "datePublished", strict=False),
        author=_people(review.get("author")) or page.author,
        summary=review.get("description") or page.description,
        image_url=_image(review.get("image")) or page.image,
        source=source,
    )


def _claim_review_records(document: Any, page: _Page, source: str | None, where: str) -> Parsed:
    parsed = Parsed()
    for index, review in enumerate(_claim_reviews(document), start=1):
        place = f"{where} ClaimReview {index}"
        try:
            parsed.records.append((place, _from_claim_review(review, page, source)))
        except _RejectedError as exc:
            parsed.rejected.append((place, str(exc)))
    return parsed


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnreadableSourceError(f"invalid JSON: {exc}") from exc


def parse_claim_review_jsonld(body: bytes | str, *, source: str | None = None) -> Parsed:
    """ClaimReview JSON-LD on its own: one object, a list, or a ``@graph``."""
    return _jsonld_records(_load_json(_decode(body)), source)


def _jsonld_records(document: Any, source: str | None) -> Parsed:
    where = source or "JSON-LD"
    parsed = _claim_review_records(document, _Page(), source, where)
    if not parsed.records and not parsed.rejected:
        parsed.rejected.append((where, "no ClaimReview in this JSON-LD"))
    return parsed


# --- HTML article pages ----------------------------------------------------------------------

# Elements that end a line of visible text, so "Behauptung: ..." stays on a line of its own.
# fmt: off
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul",
})
# fmt: on
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head", "title"})


class _PageParser(HTMLParser):
    """Collects JSON-LD scripts, meta tags and block-separated visible text from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.language: str | None = None
        self.title = ""
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.time: str | None = None
        self.scripts: list[str] = []
        self.lines: list[str] = [""]
        self._stack: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "html" and self.language is None:
            self.language = attributes.get("lang") or attributes.get("xml:lang")
        elif tag == "meta":
            key = (attributes.get("property") or attributes.get("name") or "").lower()
            if key and "content" in attributes:
                self.meta.setdefault(key, attributes["content"])
        elif tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            self.canonical = self.canonical or attributes.get("href")
        elif tag == "time" and self.time is None and attributes.get("datetime"):
            self.time = attributes["datetime"]
        elif tag == "script" and attributes.get("type", "").lower() == "application/ld+json":
            self._script = []
        if tag in _BLOCK_TAGS:
            self.lines.append("")
        if tag in _SKIPPED_TAGS:
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None
        if tag in _BLOCK_TAGS:
            self.lines.append("")
        if tag in self._stack:
            del self._stack[len(self._stack) - 1 - self._stack[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        elif self._stack and self._stack[-1] == "title":
            self.title += data
        elif not self._stack:
            self.lines[-1] += data

    def text_lines(self) -> list[str]:
        return [" ".join(line.split()) for line in self.lines if line.strip()]


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)


def _decode(body: bytes | str, content_type: str | None = None) -> str:
    """Text from bytes: BOM, then the declared charset, then UTF-8 (bad bytes replaced)."""
    if isinstance(body, str):
        return body.removeprefix("\ufeff")
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace")
    declared = re.search(r"charset=([\w-]+)", content_type or "", re.IGNORECASE)
    sniffed = _CHARSET.search(body[:4096])
    charset = declared.group(1) if declared else sniffed.group(1).decode() if sniffed else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _strip_script_wrappers(script: str) -> str:
    """Some CMSs wrap JSON-LD in HTML comments or CDATA markers."""
    script = script.strip()
    for opening, closing in (("<!--", "-->"), ("/*<![CDATA[*/", "/*]]>*/"), ("<![CDATA[", "]]>")):
        if script.startswith(opening) and script.endswith(closing):
            script = script[len(opening) : -len(closing)].strip()
    return script


def _read_page(body: bytes | str, content_type: str | None = None) -> _PageParser:
    parser = _PageParser()
    parser.feed(_decode(body, content_type))
    parser.close()
    return parser


def _page_summary(parser: _PageParser, url: str | None) -> _Page:
    meta = parser.meta
    return _Page(
        url=url,
        title=meta.get("og:title") or parser.title.strip() or None,
        site_name=meta.get("og:site_name"),
        language=parser.language,
        published=meta.get("article:published_time") or parser.time,
        author=meta.get("author") or meta.get("article:author"),
        description=meta.get("og:description") or meta.get("description"),
        image=meta.get("og:image"),
    )


# Labels a fact-check uses when it states its claim and verdict in plain text.
_CLAIM_LABELS = frozenset(
    fold(label)
    for label in (
        "Behauptung", "Die Behauptung", "Claim", "The claim", "Afirmación", "La afirmación",
        "Affirmation", "L'affirmation", "Утверждение", "Твердження", "İddia", "الادعاء",
        "Alegação", "Afirmação", "Affermazione", "Twierdzenie",
    )
)  # fmt: skip
_VERDICT_LABELS = frozenset(
    fold(label)
    for label in (
        "Faktencheck", "Bewertung", "Unsere Bewertung", "Urteil", "Verdict", "Our verdict",
        "Rating", "Our rating", "Veredicto", "Nuestro veredicto", "Calificación",
        "Notre verdict", "Вердикт", "Оценка", "Оцінка", "Sonuç", "Karar", "الحكم",
        "التقييم", "Veredito", "Classificação", "Verdetto", "Werdykt", "Ocena",
    )
)  # fmt: skip
_LABEL = re.compile(r"^\s*([^:：]{1,40}?)\s*[:：]\s*(.*)$")


def _labelled(lines: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(folded label, value) pairs: "Label: value" on one line, or a bare label line followed
    by its value (a heading "Behauptung" above the paragraph)."""
    for index, line in enumerate(lines):
        match = _LABEL.match(line)
        if match:
            value = match.group(2).strip()
            if not value and index + 1 < len(lines):
                value = lines[index + 1]
            yield fold(match.group(1)), value
        elif len(line) <= 40 and index + 1 < len(lines):
            yield fold(line), lines[index + 1]


def _verdict_words(value: str) -> str:
    """The verdict itself, without the explanation that often follows on the same line."""
    return re.split(r"[.;!(–—]|\s-\s", value, maxsplit=1)[0].strip() or value


def extract_plain_text(lines: Sequence[str]) -> tuple[str, str | None] | None:
    """(claim, verdict) from lines such as "Behauptung: ..." and "Bewertung: Falsch", if any.

    The first verdict we can rate wins: German headlines often start "Faktencheck: ...",
    which is a label but not the verdict.
    """
    claim: str | None = None
    verdicts: list[str] = []
    for label, value in _labelled(lines):
        if claim is None and label in _CLAIM_LABELS and value:
            claim = value
        elif label in _VERDICT_LABELS and value:
            verdicts.append(_verdict_words(value))
    if claim is None:
        return None
    rated = (verdict for verdict in verdicts if normalise_rating(verdict) != Rating.OTHER)
    return claim, next(rated, verdicts[0] if verdicts else None)


def _extracted_record(
    parser: _PageParser, page: _Page, source: str | None
) -> FactCheckRecord | None:
    found = extract_plain_text(parser.text_lines())
    if found is None:
        return None
    claim, verdict = found
    return _record(
        url=page.url,
        claim_reviewed=claim,
        rating_text=verdict,
        headline=page.title,
        publisher=page.site_name,
        language=page.language,
        published_at=_date(page.published, "published_time", strict=False),
        author=page.author,
        summary=page.description,
        image_url=page.image,
        extracted=True,
        needs_review=verdict is None,
        source=source,
    )


def _page_url(parser: _PageParser, fetched_url: str | None) -> str | None:
    return fetched_url or parser.canonical or parser.meta.get("og:url")


def _same_site(url: str, host: str) -> bool:
    other = (urlsplit(url).hostname or "").removeprefix("www.")
    host = host.removeprefix("www.")
    return other == host or other.endswith("." + host) or host.endswith("." + other)


def _vouched(record: FactCheckRecord, fetched_from: str) -> FactCheckRecord:
    """A page speaks only for its own site: a ClaimReview naming another site's URL waits
    for an editor, and as ``needs_review`` it cannot overwrite that site's fact-check."""
    if _same_site(record.url, urlsplit(fetched_from).hostname or ""):
        return record
    return replace(record, needs_review=True)


def _html_records(
    parser: _PageParser,
    *,
    page_url: str | None,
    source: str | None,
    where: str,
    fetched_from: str | None,
) -> tuple[Parsed, int]:
    """ClaimReviews in the page, else its plain-text claim and verdict; plus the broken
    JSON-LD script count, for the reason we give when we find nothing."""
    page = _page_summary(parser, page_url)
    parsed = Parsed()
    broken = 0
    for script in parser.scripts:
        try:
            document = json.loads(_strip_script_wrappers(script))
        except (ValueError, RecursionError):
            broken += 1  # one bad script must not hide the ClaimReview in another
            continue
        parsed.extend(_claim_review_records(document, page, source, where))
    if fetched_from:
        parsed.records = [
            (place, _vouched(record, fetched_from)) for place, record in parsed.records
        ]
    if not parsed.records and not parsed.rejected:
        try:
            record = _extracted_record(parser, page, source)
        except _RejectedError as exc:
            parsed.rejected.append((where, f"plain-text fact-check unusable: {exc}"))
        else:
            if record is not None:
                parsed.records.append((where, record))
    return parsed, broken


def parse_html(
    body: bytes | str,
    *,
    page_url: str | None = None,
    content_type: str | None = None,
    source: str | None = None,
) -> Parsed:
    """A fact-check article page: its ClaimReview JSON-LD, or what its text states plainly.

    ``page_url`` (where we fetched it) comes first; a local file falls back to its
    canonical link or ``og:url``. A fetched page's ClaimReview naming another site's URL
    is marked ``needs_review``.
    """
    where = source or page_url or "HTML page"
    parser = _read_page(body, content_type)
    parsed, broken = _html_records(
        parser,
        page_url=_page_url(parser, page_url),
        source=source,
        where=where,
        fetched_from=page_url,
    )
    if not parsed.records and not parsed.rejected:
        note = f" ({broken} JSON-LD script(s) were invalid JSON)" if broken else ""
        parsed.rejected.append(
            (where, f"no ClaimReview markup{note} and no plain-text claim and verdict")
        )
    return parsed


# --- Fact Check Tools API, our JSON Lines and CSV --------------------------------------------


def parse_fact_check_tools(document: Any, *, source: str | None = None) -> Parsed:
    """Google Fact Check Tools API JSON: ``claims[].claimReview[]``, one record per review."""
    where = source or "Fact Check Tools JSON"
    parsed = Parsed()
    for claim_index, claim in enumerate(_as_list(document.get("claims"))):
        if not isinstance(claim, dict):
            parsed.rejected.append((f"{where} claims[{claim_index}]", "not an object"))
            continue
        for review_index, review in enumerate(_as_list(claim.get("claimReview"))):
            place = f"{where} claims[{claim_index}].claimReview[{review_index}]"
            try:
                if not isinstance(review, dict):
                    raise _RejectedError("not an object")
                publisher = _first_dict(review.get("publisher"))
                parsed.records.append(
                    (
                        place,
                        _record(
                            url=review.get("url"),
                            claim_reviewed=claim.get("text"),
                            rating_text=review.get("textualRating"),
                            headline=review.get("title"),
                            publisher=publisher.get("name") or publisher.get("site"),
                            language=review.get("languageCode"),
                            published_at=_date(
                                review.get("reviewDate"), "reviewDate", strict=False
                            ),
                            source=source,
                        ),
                    )
                )
            except _RejectedError as exc:
                parsed.rejected.append((place, str(exc)))
    return parsed


def _from_our_format(row: dict[str, Any], source: str | None) -> FactCheckRecord:
    blank = {key: (None if value == "" else value) for key, value in row.items()}
    return _record(
        url=blank.get("url"),
        claim_reviewed=blank.get("claim_reviewed"),
        rating_text=blank.get("rating"),
        headline=blank.get("headline"),
        publisher=blank.get("publisher"),
        language=blank.get("language"),
        published_at=_date(blank.get("published_at"), "published_at", strict=True),
        author=blank.get("author"),
        summary=blank.get("summary"),
        image_url=blank.get("image") or blank.get("image_url"),
        source=source,
    )


def _our_records(rows: Iterable[tuple[str, Any]], source: str | None) -> Parsed:
    parsed = Parsed()
    for place, row in rows:
        try:
            if not isinstance(row, dict):
                raise _RejectedError("not a JSON object")
            parsed.records.append((place, _from_our_format(row, source)))
        except _RejectedError as exc:
            parsed.rejected.append((place, str(exc)))
    return parsed


def parse_jsonl(body: bytes | str, *, source: str | None = None) -> Parsed:
    """Our JSON Lines; a line that is not JSON is rejected, the others still count."""
    where = source or "JSON Lines"
    parsed = Parsed()
    for number, line in enumerate(_decode(body).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            parsed.rejected.append((f"{where}:{number}", f"invalid JSON: {exc}"))
            continue
        parsed.extend(_our_records([(f"{where}:{number}", row)], source))
    return parsed


def parse_csv(body: bytes | str, *, source: str | None = None) -> Parsed:
    """CSV with our JSON Lines' column names (UTF-8, BOM tolerated; comma, semicolon or tab)."""
    where = source or "CSV"
    text = _decode(body)
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        columns = {(name or "").strip() for name in reader.fieldnames or []}
        missing = {"url", "claim_reviewed"} - columns
        if missing:
            raise UnreadableSourceError(f"CSV header lacks column(s): {', '.join(sorted(missing))}")
        rows = [
            (
                f"{where}:{reader.line_num}",
                {(key or "").strip(): value for key, value in row.items() if key is not None},
            )
            for row in reader
        ]
    except csv.Error as exc:  # NUL bytes, a field beyond the size limit: no safe resync
        raise UnreadableSourceError(f"invalid CSV near line {reader.line_num}: {exc}") from exc
    return _our_records(rows, source)


# --- RSS and Atom ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedEntry:
    link: str | None
    title: str | None
    summary: str | None
    published_at: datetime | None
    author: str | None


@dataclass(frozen=True, slots=True)
class FeedDocument:
    title: str | None
    language: str | None
    entries: list[FeedEntry]


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: Element, *names: str) -> Element | None:
    for name in names:
        for child in element:
            if _local(child.tag) == name:
                return child
    return None


def _child_text(element: Element, *names: str) -> str | None:
    child = _child(element, *names)
    text = "".join(child.itertext()).strip() if child is not None else ""
    return text or None


def _html_text(fragment: str | None) -> str | None:
    if not fragment:
        return None
    parser = _read_page(fragment)
    return "\n".join(parser.text_lines()) or None


def _entry_link(entry: Element) -> str | None:
    for child in entry:
        if _local(child.tag) != "link":
            continue
        if child.get("href") and child.get("rel", "alternate") == "alternate":
            return child.get("href")
        if (child.text or "").strip():
            return (child.text or "").strip()
    guid = _child(entry, "guid")
    if guid is not None and guid.get("isPermaLink", "true") != "false":
        return (guid.text or "").strip() or None
    return None


def _entry_author(entry: Element) -> str | None:
    """Atom's <author><name>, else RSS's <author> or <dc:creator>."""
    author = _child(entry, "author")
    name = _child_text(author, "name") if author is not None else None
    return name or _child_text(entry, "creator", "author")


def parse_feed(body: bytes | str) -> FeedDocument:
    """RSS 2.0, RSS 1.0 or Atom; DTDs and entities are refused (no entity-expansion bombs)."""
    try:
        root = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise UnreadableSourceError(f"invalid feed XML: {exc}") from exc
    if _local(root.tag) not in ("rss", "feed", "RDF"):
        raise UnreadableSourceError(f"not an RSS or Atom feed (root element <{_local(root.tag)}>)")
    channel = _child(root, "channel") if _local(root.tag) != "feed" else root
    head = channel if channel is not None else root
    entries = [
        FeedEntry(
            link=_entry_link(element),
            title=_child_text(element, "title"),
            summary=_html_text(_child_text(element, "summary", "description", "content")),
            published_at=_date(
                _child_text(element, "published", "pubDate", "date", "updated"),
                "published",
                strict=False,
            ),
            author=_entry_author(element),
        )
        for element in root.iter()
        if _local(element.tag) in ("item", "entry")
    ]
    return FeedDocument(
        title=_child_text(head, "title"),
        language=_language(_child_text(head, "language") or root.get(_XML_LANG)),
        entries=entries,
    )


async def _entry_records(
    entry: FeedEntry, feed: FeedDocument, fetcher: Fetcher, source: str
) -> Parsed:
    """The entry's article: its ClaimReview, else its plain text, else the entry itself for
    an editor to complete (``needs_review``). A page we may not fetch is rejected."""
    try:
        link = _http_url(entry.link, "entry link")
    except _RejectedError as exc:
        return Parsed(rejected=[(f"{source} entry {entry.title or ''!r}", str(exc))])
    if link is None:
        return Parsed(rejected=[(f"{source} entry {entry.title or ''!r}", "entry without a link")])
    try:
        page = await fetcher.fetch(link)
    except FetchError as exc:
        return Parsed(rejected=[(link, str(exc))])
    parsed, _ = _html_records(
        _read_page(page.body, page.content_type),
        page_url=link,
        source=source,
        where=link,
        fetched_from=page.url,
    )
    parsed.records = [
        (
            place,
            replace(
                record,
                publisher=record.publisher or _text(feed.title, "publisher", limit=_SHORT_MAX),
                language=record.language or feed.language,
                published_at=record.published_at or entry.published_at,
            ),
        )
        for place, record in parsed.records
    ]
    if parsed.records or parsed.rejected:
        return parsed
    try:
        record = _record(
            url=link,
            claim_reviewed=entry.title,
            headline=entry.title,
            publisher=feed.title,
            language=feed.language,
            published_at=entry.published_at,
            author=entry.author,
            summary=entry.summary,
            needs_review=True,
            source=source,
        )
    except _RejectedError as exc:
        return Parsed(rejected=[(link, str(exc))])
    return Parsed(records=[(link, record)])


async def _feed_records(
    feed: FeedDocument, fetcher: Fetcher, source: str, *, skip: set[str] | frozenset[str]
) -> tuple[Parsed, int]:
    """Records of every entry not in ``skip`` (canonical URLs); also how many were skipped."""
    limit = asyncio.Semaphore(_FEED_PAGE_CONCURRENCY)
    wanted = [
        entry
        for entry in feed.entries
        if not (entry.link and canonical_url(entry.link.strip()) in skip)
    ]

    async def one(entry: FeedEntry) -> Parsed:
        async with limit:
            return await _entry_records(entry, feed, fetcher, source)

    parsed = Parsed()
    for result in await asyncio.gather(*(one(entry) for entry in wanted)):
        parsed.extend(result)
    return parsed, len(feed.entries) - len(wanted)


# --- Detecting the format --------------------------------------------------------------------

_EXTENSION_HINTS: dict[str, SourceFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".rss": "feed",
    ".atom": "feed",
}
_CONTENT_TYPE_HINTS: dict[str, SourceFormat] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
    "application/rss+xml": "feed",
    "application/atom+xml": "feed",
    "text/html": "html",
    "application/xhtml+xml": "html",
}
_FEED_ROOT = re.compile(r"<(?:[\w-]+:)?(rss|feed|RDF)[\s>]")


def _hint(name: str | None, content_type: str | None) -> SourceFormat | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _CONTENT_TYPE_HINTS:
        return _CONTENT_TYPE_HINTS[media]
    suffix = Path(urlsplit(name or "").path).suffix.lower()
    return _EXTENSION_HINTS.get(suffix)


def _json_kind(document: Any) -> SourceFormat:
    if isinstance(document, dict) and "claims" in document:
        return "fact_check_tools"
    if next(_claim_reviews(document), None) is not None:
        return "jsonld"
    return "jsonl"  # our own records: one object, or a JSON array of them


def _looks_like_json_lines(text: str) -> bool:
    """Some of the first lines are JSON objects by themselves (a broken pretty-printed JSON
    document has none), so one bad line rejects that line, not the file."""
    lines = [line for line in text.splitlines() if line.strip()][:5]
    for line in lines:
        try:
            if isinstance(json.loads(line), dict):
                return True
        except (ValueError, RecursionError):
            continue
    return False


def detect_format(
    body: bytes | str, *, name: str | None = None, content_type: str | None = None
) -> SourceFormat:
    """Which parser a source needs, from its content; file extension and Content-Type only
    settle what content alone cannot (a one-line JSON Lines file, a CSV)."""
    hint = _hint(name, content_type)
    text = _decode(body[:65536]).lstrip()
    if text.startswith("<"):
        without_comments = re.sub(r"<!--.*?-->", "", text[:4096], flags=re.DOTALL)
        is_html = re.search(r"<(html|head|body|meta)[\s>]", without_comments, re.IGNORECASE)
        return "feed" if _FEED_ROOT.search(without_comments) and not is_html else "html"
    if text.startswith(("{", "[")):
        if hint == "jsonl":
            return "jsonl"
        try:
            return _json_kind(json.loads(_decode(body)))
        except (ValueError, RecursionError) as exc:
            if _looks_like_json_lines(_decode(body)):
                return "jsonl"
            raise UnreadableSourceError(f"invalid JSON: {exc}") from exc
    first_line = text.split("\n", 1)[0]
    if hint == "csv" or ("url" in first_line and "claim_reviewed" in first_line):
        return "csv"
    raise UnreadableSourceError(
        "unrecognised format (expected ClaimReview JSON-LD, an HTML page, Fact Check Tools "
        "JSON, JSON Lines, CSV, RSS or Atom)"
    )


def parse_document(
    body: bytes | str,
    *,
    kind: SourceFormat,
    source: str | None = None,
    page_url: str | None = None,
    content_type: str | None = None,
) -> Parsed:
    """Parse a non-feed source of a known format (feeds need fetching: see the importers)."""
    if kind == "html":
        return parse_html(body, page_url=page_url, content_type=content_type, source=source)
    if kind == "csv":
        return parse_csv(body, source=source)
    if kind == "jsonl":
        text = _decode(body, content_type).strip()
        if text.startswith("["):
            rows = _load_json(text)
            where = source or "JSON"
            return _our_records(((f"{where}[{i}]", row) for i, row in enumerate(rows)), source)
        return parse_jsonl(text, source=source)
    document = _load_json(_decode(body, content_type))
    if kind == "fact_check_tools":
        return parse_fact_check_tools(document, source=source)
    return _jsonld_records(document, source)


# --- Importing -------------------------------------------------------------------------------


def _without_duplicates(parsed: Parsed) -> Parsed:
    """One record per URL: the database holds one row per URL, so a second is rejected."""
    seen: dict[str, str] = {}
    result = Parsed(rejected=list(parsed.rejected))
    for place, record in parsed.records:
        if record.url in seen:
            result.rejected.append((place, f"same URL as {seen[record.url]}"))
            continue
        seen[record.url] = place
        result.records.append((place, record))
    return result


@dataclass(frozen=True, slots=True)
class _FeedSync:
    """A feed fetched successfully, with the validators for its next conditional GET."""

    url: str
    etag: str | None
    last_modified: str | None


async def _write(
    db: Database, parsed: Parsed, *, skipped: int = 0, feed: _FeedSync | None = None
) -> ImportReport:
    """Write a fully parsed source in one transaction, with a feed's success if any: the
    validators are stored only if the articles landed, or a retry would skip them."""
    parsed = _without_duplicates(parsed)
    report = ImportReport(unchanged=skipped, rejected=list(parsed.rejected))
    async with db.session() as session:
        outcomes = await repository.upsert_fact_checks(
            session, [asdict(record) for _, record in parsed.records]
        )
        if feed is not None:
            await repository.record_feed_success(
                session, feed.url, etag=feed.etag, last_modified=feed.last_modified
            )
    for outcome in outcomes:
        if outcome.status == "new":
            report.new += 1
        elif outcome.status == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
        if outcome.status != "unchanged":
            report.fact_check_ids.append(outcome.fact_check_id)
    return report


async def import_records(
    db: Database, records: Iterable[FactCheckRecord], *, source: str
) -> ImportReport:
    """Write already-parsed records in one transaction, tagging those without a source."""
    parsed = Parsed(
        records=[
            (record.url, replace(record, source=record.source or source)) for record in records
        ]
    )
    return await _write(db, parsed)


async def _load(source: str, fetcher: Fetcher) -> tuple[bytes, str | None, str | None]:
    """(body, content type, fetched URL) of a file path or an http(s) URL."""
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        document = await fetcher.fetch(source)
        return document.body, document.content_type, document.url
    if "://" in source:
        raise UnreadableSourceError(f"only files and http(s) URLs can be imported, not {scheme}:")
    try:
        return await asyncio.to_thread(Path(source).read_bytes), None, None
    except OSError as exc:
        raise UnreadableSourceError(f"cannot read file: {exc.strerror or exc}") from exc


async def _parse_source(source: str, fetcher: Fetcher) -> Parsed:
    body, content_type, fetched_url = await _load(source, fetcher)
    kind = detect_format(body, name=source, content_type=content_type)
    if kind == "feed":
        parsed, _ = await _feed_records(parse_feed(body), fetcher, source, skip=frozenset())
        return parsed
    return parse_document(
        body, kind=kind, source=source, page_url=fetched_url, content_type=content_type
    )


async def import_sources(db: Database, sources: Sequence[str], *, fetcher: Fetcher) -> ImportReport:
    """Import files and URLs; each source is parsed fully, then written in one transaction."""
    report = ImportReport()
    for source in sources:
        try:
            parsed = await _parse_source(source, fetcher)
        except (UnreadableSourceError, FetchError) as exc:
            report.rejected.append((source, str(exc)))
            continue
        report.add(await _write(db, parsed))
    return report


async def _sync_feed(db: Database, url: str, fetcher: Fetcher) -> ImportReport:
    async with db.session() as session:
        feed = await repository.record_feed_attempt(session, url)
        etag, last_modified = feed.etag, feed.last_modified
    try:
        document = await fetcher.fetch(url, etag=etag, last_modified=last_modified)
        if document.not_modified:
            return await _write(db, Parsed(), feed=_FeedSync(url, etag, last_modified))
        parsed_feed = parse_feed(document.body)
        async with db.session() as session:
            known = await repository.existing_fact_check_urls(
                session, [entry.link for entry in parsed_feed.entries if entry.link]
            )
        parsed, skipped = await _feed_records(parsed_feed, fetcher, url, skip=known)
    except (UnreadableSourceError, FetchError) as exc:
        async with db.session() as session:
            await repository.record_feed_error(session, url, str(exc))
        return ImportReport(rejected=[(url, str(exc))])
    return await _write(
        db, parsed, skipped=skipped, feed=_FeedSync(url, document.etag, document.last_modified)
    )


async def sync_feeds(db: Database, feed_urls: Sequence[str], *, fetcher: Fetcher) -> ImportReport:
    """Fetch each feed (conditionally) and import its new articles.

    Articles already stored are not fetched again (a scheduled sync would otherwise re-read
    every page of every changed feed); ``import_sources`` with the article URL refreshes one.
    Each feed's attempt, success (with its ETag/Last-Modified) or error is recorded.
    """
    report = ImportReport()
    for url in feed_urls:
        report.add(await _sync_feed(db, url, fetcher))
    return report


async def load_demo_fact_checks(db: Database) -> ImportReport:
    """The bundled demo fact-checks (example.org links), for the sandbox and first runs."""
    body = resources.files("newsroom.demo").joinpath("factchecks.jsonl").read_bytes()
    return await _write(db, parse_jsonl(body, source="demo"))
