"""Nothing lost, nothing doubled: bench/webhook_faults.py at a small scale, on both databases.

The full-size runs (5,000 updates, two kills, two workers, a PostgreSQL outage) are in
docs/BENCHMARKS.md; this keeps the same harness honest on every CI run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "webhook_faults.py"


def test_killed_workers_lose_and_double_nothing(database_url: str) -> None:
    # database_url makes this run once per backend (and fail in CI without PostgreSQL); the
    # harness creates a database of that kind of its own, so the counts are its alone.
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    workers = 1 if database == "sqlite" else 2
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--updates=240",
            "--kills=1",
            f"--workers={workers}",
            f"--database={database}",
            "--drain-timeout=120",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["kills"] == 1
    assert report["tips"] == 240
    assert report["senders_without_reply"] == 0
    # Every answer rode on a webhook's 200, which Telegram takes once: no sender is answered
    # twice, whenever the kill lands (docs/ARCHITECTURE.md, "Exactly one reply").
    assert report["senders_with_several_replies"] == 0, report["doubled"]
    assert report["answered_in_response"] == 240
    assert result.returncode == 0, result.stderr[-2000:]
