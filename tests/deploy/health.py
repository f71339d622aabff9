"""Waiting for a collector process started by a deploy test to answer its health check."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_until_healthy(
    proc: subprocess.Popen[bytes], url: str, log: Path, within: float = 60
) -> None:
    """Return once ``url`` answers 200; fail with the process's log if it exits first or
    ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
