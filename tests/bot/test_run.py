"""`tipline run` as `make run` starts it: with no token it runs the sandbox, and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from processes import ended_within


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_health(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tipline exited early: {process.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def _children(pid: int) -> list[tuple[int, str]]:
    """The processes directly under ``pid``, with their command lines."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if parent == pid:
            found.append((int(stat.parent.name), command))
    return found


def test_run_without_a_token_starts_the_sandbox_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env.update({"TIPLINE_PORT": str(port)})
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port + 1}/sandbox/", timeout=5) as page:
            assert page.status == 200
        [matching] = [pid for pid, command in _children(process.pid) if "spawn_main" in command]
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert ended_within(matching, 10)  # the matching process stops with the worker
    assert process.returncode == 0, stderr
    assert "TIPLINE_BOT_TOKEN is not set" in stderr
    assert "sandbox" in stdout.lower()
    assert "Traceback" not in stderr
    assert (tmp_path / "tipline-sandbox.db").exists()
