"""Text normalisation and tokenisation that behave the same for every script we meet.

Rumours are edited as they travel: invisible characters are inserted, letters swapped for
look-alikes from another alphabet, tracking parameters appended to links, "Forwarded from"
lines added. All of that is removed here, so that copies compare equal.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "extract_links", "normalize_text", "strip_invisible", "tokenize"]

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'«»]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\"»"
_TRACKING = re.compile(
    r"^(utm_.*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|igshid|igsh|si|ref|ref_src|"
    r"ref_url|mc_cid|mc_eid|_ga|_gl|mkt_tok|s_cid|spm|share|feature|ved|ei|sca_esv)$",
    re.IGNORECASE,
)
_FORWARDED = re.compile(
    r"^\s*(forwarded from|forwarded message|переслано от|переслано з|переслане повідомлення|"
    r"weitergeleitet von|weitergeleitete nachricht|reenviado de|mensaje reenviado|"
    r"transféré de|message transféré|iletildi|şuradan iletildi|تمت إعادة توجيهه من|"
    r"معاد توجيهه من)\b.*$",
    re.IGNORECASE | re.MULTILINE,
)
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_WORD = re.compile(r"\w+", re.UNICODE)
# Scripts written without spaces: indexed as overlapping character pairs.
_UNSPACED = re.compile(
    "[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)

# Letters that look the same in Latin and Cyrillic (lower case, after casefold).
_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "ӏ": "l", "ԛ": "q", "ԝ": "w", "ё": "e", "ї": "i",
    }
)  # fmt: skip
_LATIN_TO_CYRILLIC = str.maketrans(
    {
        "a": "а", "b": "в", "e": "е", "k": "к", "m": "м", "h": "н", "o": "о", "p": "р",
        "c": "с", "t": "т", "y": "у", "x": "х", "i": "і",
    }
)  # fmt: skip


_KEPT_CONTROLS = frozenset("\t\n\r")


def strip_invisible(text: str) -> str:
    """Remove what shows nothing: format characters (zero-width spaces and joiners, bidi
    controls, BOM, soft hyphen), lone surrogates, and control characters but tab and newlines.

    What remains can be stored (PostgreSQL refuses NUL), encoded as UTF-8 and shown safely.
    """
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in ("Cf", "Cs", "Cc") or ch in _KEPT_CONTROLS
    )


def canonical_url(url: str) -> str:
    """The same link however it was shared: tracking parameters, fragment and case removed."""
    raw = url.strip()
    try:
        candidate = raw if "://" in raw else f"http://{raw}"
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            return raw
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.match(key)
    )
    path = parts.path.rstrip("/") if parts.path not in ("", "/") else ""
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def extract_links(text: str) -> list[str]:
    """Every link in a text, canonical, once each, in order of appearance."""
    links: dict[str, None] = {}
    for match in _URL.finditer(strip_invisible(text)):
        links.setdefault(canonical_url(match.group(0).rstrip(_URL_TRAILING)), None)
    return list(links)


def _is_latin(ch: str) -> bool:
    return "a" <= ch <= "z"


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff" or "\u0500" <= ch <= "\u052f"


def _fold_homoglyphs(token: str) -> str:
    """A word mixing Latin and Cyrillic look-alikes is rewritten in one alphabet: the one most
    of its letters are in if the others all have look-alikes there, else the other one."""
    latin = sum(map(_is_latin, token))
    cyrillic = sum(map(_is_cyrillic, token))
    if not latin or not cyrillic:
        return token
    as_latin = token.translate(_CYRILLIC_TO_LATIN)
    as_cyrillic = token.translate(_LATIN_TO_CYRILLIC)
    folds = [(as_latin, not any(map(_is_cyrillic, as_latin)))]
    folds.insert(0 if cyrillic > latin else 1, (as_cyrillic, not any(map(_is_latin, as_cyrillic))))
    return next((folded for folded, pure in folds if pure), token)


def normalize_text(text: str) -> str:
    """NFKC, invisible characters and forwarding lines removed, casefolded, links canonical."""
    text = unicodedata.normalize("NFKC", text)
    text = strip_invisible(text)
    text = _FORWARDED.sub(" ", text)
    text = _URL.sub(lambda m: f" {canonical_url(m.group(0).rstrip(_URL_TRAILING))} ", text)
    text = text.casefold()
    text = _ARABIC_MARKS.sub("", text)
    text = re.sub(r"\w+", lambda m: _fold_homoglyphs(m.group(0)), text)
    return " ".join(text.split())


def _pieces(word: str) -> list[str]:
    if not _UNSPACED.search(word):
        return [word]
    pieces: list[str] = []
    run = ""
    for ch in word + " ":
        if _UNSPACED.match(ch):
            run += ch
            continue
        if run:
            pieces.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
            run = ""
        if ch != " ":
            pieces.append(ch)
    return pieces


def tokenize(text: str) -> list[str]:
    """Words of a normalised text; scripts without spaces (CJK, Thai) as character pairs."""
    tokens: list[str] = []
    for word in _WORD.findall(normalize_text(text)):
        for piece in _pieces(word.replace("_", "")):
            if len(piece) > 1 or piece.isdigit() or _UNSPACED.match(piece):
                tokens.append(piece)
    return tokens
