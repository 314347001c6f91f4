"""A real engine process on a free loopback port for the operator-command tests."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LISTENING = re.compile(r"engine listening on (\S+)")


@pytest.fixture
def engine_address(tmp_path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "miglane.cli.main",
            "engine",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path / "engine"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    address = ""
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = LISTENING.search(line)
        if match:
            address = match.group(1)
            break
    if not address:
        process.kill()
        pytest.fail("engine did not start:\n" + "".join(seen))
    try:
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
