"""Processes for the tests: whether one has ended, read from /proc."""

from __future__ import annotations

import time
from pathlib import Path


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; it only waits to be reaped


def ended_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` has ended, waiting up to ``seconds`` for it."""
    deadline = time.monotonic() + seconds
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
