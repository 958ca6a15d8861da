"""`tipline match rank` end to end: JSON Lines in, the documented TSV out, clear errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from newsroom.ranking import read_jsonl

TARGETS = [
    {"id": "banks", "title": "False: banks are not closing on Monday",
     "text": "All banks will close on Monday, so people should withdraw their money now."},
    {"id": "5g", "title": "5G masts do not spread viruses",
     "text": "5G mobile phone masts are spreading a virus that makes people ill."},
    {"id": "moon", "title": "The moon landing was not filmed in a studio",
     "text": "The 1969 moon landing was staged and filmed in a Hollywood studio.", "lang": "en"},
    {"id": 7, "text": "Drinking hot water with lemon every morning cures cancer."},
]  # fmt: skip
QUERIES = [
    {"id": "q-banks", "text": "Banks are shutting on Monday, take your money out now!"},
    {"id": "q-5g", "text": "Die 5G-Masten verbreiten das Virus.", "lang": "de"},
]


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def _rank(
    tmp_path: Path, targets: Path, queries: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    command = ["match", "rank", "--targets", str(targets), "--queries", str(queries), *extra]
    return subprocess.run(
        [sys.executable, "-m", "bot", *command],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip


def test_match_rank_prints_the_top_targets_per_query_as_tsv(tmp_path: Path) -> None:
    targets = _jsonl(tmp_path / "T.jsonl", TARGETS)
    queries = _jsonl(tmp_path / "Q.jsonl", QUERIES)
    result = _rank(tmp_path, targets, queries, "--top", "3")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 5 for row in rows)
    assert [(q, r) for q, _, r, _, _ in rows] == [
        ("q-banks", "1"), ("q-banks", "2"), ("q-banks", "3"),
        ("q-5g", "1"), ("q-5g", "2"), ("q-5g", "3"),
    ]  # fmt: skip
    by_query: dict[str, list[tuple[str, float, str]]] = {}
    for query_id, target_id, _, score, decision in rows:
        assert decision in ("reply", "ask", "none")
        assert 0.0 <= float(score) <= 1.0
        by_query.setdefault(query_id, []).append((target_id, float(score), decision))
    for found in by_query.values():
        assert [s for _, s, _ in found] == sorted((s for _, s, _ in found), reverse=True)
    assert by_query["q-banks"][0][0] == "banks"
    assert by_query["q-banks"][0][2] != "none"
    assert by_query["q-5g"][0][0] == "5g"
    assert {t for found in by_query.values() for t, _, _ in found} <= {"banks", "5g", "moon", "7"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "T.jsonl:2: not JSON"),
        ('["a", "list"]', "T.jsonl:2: expected a JSON object"),
        ('{"id": "x"}', "T.jsonl:2: 'id' and 'text' are required"),
        ('{"text": "no id"}', "T.jsonl:2: 'id' and 'text' are required"),
        ('{"id": "banks", "text": "again"}', "T.jsonl:2: id 'banks' appears twice"),
        ('{"id": "y", "text": ["a"]}', "T.jsonl:2: 'text' must be a string"),
        ('{"id": true, "text": "t"}', "T.jsonl:2: 'id' must be a string"),
    ],
)
def test_a_malformed_line_is_named_with_its_line_number(
    tmp_path: Path, line: str, message: str
) -> None:
    targets = tmp_path / "T.jsonl"
    targets.write_text(json.dumps(TARGETS[0]) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        read_jsonl(targets)


def test_the_command_reports_a_malformed_line_without_a_traceback(tmp_path: Path) -> None:
    targets = tmp_path / "T.jsonl"
    targets.write_text(json.dumps(TARGETS[0]) + "\n{not json\n")
    queries = _jsonl(tmp_path / "Q.jsonl", QUERIES)
    result = _rank(tmp_path, targets, queries)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("tipline match rank: ")
    assert "T.jsonl:2: not JSON" in result.stderr


def test_a_missing_queries_file_is_a_clear_error(tmp_path: Path) -> None:
    targets = _jsonl(tmp_path / "T.jsonl", TARGETS)
    result = _rank(tmp_path, targets, tmp_path / "missing.jsonl")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "missing.jsonl" in result.stderr
