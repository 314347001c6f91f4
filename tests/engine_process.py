"""`miglane engine` as a process of its own on a free loopback port, for the tests that drive it
as an operator does (importable by name: every suite has a `conftest` module of its own)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from miglane.pki import CertificateAuthority
from miglane.testing.identities import admin_credentials


def admin_credentials_of(state_dir: Path) -> Path:
    """The credentials directory of a test admin issued by the CA of the engine process
    serving `state_dir` (its default PKI directory, made when the engine started)."""
    return admin_credentials(CertificateAuthority.open(state_dir / "pki")).directory


LISTENING = re.compile(r"engine listening on (\S+)")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@contextlib.contextmanager
def engine_process(state_dir: Path, *options: str) -> Iterator[str]:
    """Runs `miglane engine --listen 127.0.0.1:0 --state-dir STATE_DIR OPTIONS…` and yields the
    address it listens on; the process is ended when the block ends.

    Its output goes to `engine.log` beside the state dir rather than to a pipe: a pipe nobody
    reads after start-up would block the engine once it filled up.
    """
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = state_dir.parent / "engine.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "miglane.cli.main",
                "engine",
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
                str(state_dir),
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield _wait_until_listening(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(process: subprocess.Popen[str], log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        output = log_path.read_text()
        match = LISTENING.search(output)
        if match:
            return match.group(1)
        if process.poll() is not None:
            pytest.fail(f"engine exited with {process.returncode} before listening:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"engine not listening after {START_TIMEOUT_S:g} s:\n{output}")
        time.sleep(0.05)
