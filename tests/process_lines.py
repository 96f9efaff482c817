"""Watching a flow that runs in a subprocess through what it logs."""

from __future__ import annotations

import re
import subprocess
import time


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    """The first stderr line containing `needle`; fails when the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if needle in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"the flow never logged {needle!r}")


def wait_for_match(process: subprocess.Popen, pattern: str, timeout: float = 60) -> re.Match:
    """The first match of the regular expression `pattern` in a stderr line."""
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if found := re.search(pattern, line):
            return found
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"the flow never logged a line matching {pattern!r}")
