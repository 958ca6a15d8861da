"""Offline ranking with the bot's own matcher, so anyone can evaluate it on their own archive.

Targets are treated as published fact-checks (text = claim reviewed, title = headline) and
queries as incoming tips; each ranked target carries the decision the bot would take.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from matching import FACT_CHECK_THRESHOLDS, Decision, Document, Encoder, Matcher, Thresholds
from matching import load_encoder as _load_encoder

__all__ = ["Entry", "RankedTarget", "rank", "read_jsonl"]

_BATCH = 256


@dataclass(frozen=True)
class Entry:
    """One line of a targets or queries file."""

    id: str
    text: str
    title: str = ""
    lang: str | None = None


class RankedTarget(NamedTuple):
    """One output line: ``query_id, target_id, rank, score, decision``."""

    query_id: str
    target_id: str
    rank: int
    score: float
    decision: Decision


def _string(row: dict[str, object], key: str, where: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{where}: {key!r} must be a string")
    return str(value)


def read_jsonl(path: str | Path) -> list[Entry]:
    """Entries of a JSON Lines file; a line lacking ``id`` or ``text``, or a repeated id, fails."""
    entries: list[Entry] = []
    seen: set[str] = set()
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object")
            entry_id, text = _string(row, "id", where), _string(row, "text", where)
            if entry_id is None or text is None:
                raise ValueError(f"{where}: 'id' and 'text' are required")
            if entry_id in seen:
                raise ValueError(f"{where}: id {entry_id!r} appears twice")
            seen.add(entry_id)
            title = _string(row, "title", where) or ""
            entries.append(Entry(entry_id, text, title, _string(row, "lang", where)))
    return entries


def rank(
    targets: Sequence[Entry],
    queries: Sequence[Entry],
    *,
    top_k: int = 10,
    encoder: Encoder | None = None,
    thresholds: Thresholds = FACT_CHECK_THRESHOLDS,
) -> Iterator[RankedTarget]:
    """The best ``top_k`` targets for each query, best first, in the order of the queries."""
    matcher = Matcher(encoder or _load_encoder(), thresholds)
    for start in range(0, len(targets), _BATCH):
        chunk = targets[start : start + _BATCH]
        matcher.add([Document(t.id, t.text, title=t.title, lang=t.lang) for t in chunk])
    for query in queries:
        found = matcher.search(query.text, lang=query.lang, top_k=max(top_k, 0))
        for position, candidate in enumerate(found, start=1):
            yield RankedTarget(
                query.id, str(candidate.id), position, candidate.score, candidate.decision
            )
