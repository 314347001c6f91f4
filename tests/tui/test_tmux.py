"""The TUI as a person runs it: `miglane tui` in tmux, against `miglane engine`, keys sent,
screen read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_process import admin_credentials_of, engine_process

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def engine_address(tmp_path: Path) -> Iterator[str]:
    with engine_process(tmp_path / "engine", "--example-cluster") as address:
        yield address


class Tmux:
    """A tmux server of its own (socket `-L name`): the operator's tmux sessions are neither
    seen nor touched, and kill() leaves nothing behind."""

    def __init__(self, command: list[str]) -> None:
        self.name = f"miglane-tui-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]
        # Where tmux puts the socket of `-L name`; it stays behind when the server ends.
        tmp = os.environ.get("TMUX_TMPDIR") or "/tmp"
        self.socket = Path(tmp, f"tmux-{os.getuid()}", self.name)
        # COLUMNS/LINES inherited from the test runner would override the pane's real size.
        unsized = ["env", "-u", "COLUMNS", "-u", "LINES", *command]
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", *unsized],
            check=True,
        )

    def screen(self) -> str:
        result = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout

    def send(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.1)

    def alive(self) -> bool:
        result = subprocess.run([*self.tmux, "has-session", "-t", self.name], capture_output=True)
        return result.returncode == 0

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        self.socket.unlink(missing_ok=True)


def test_operator_grants_the_migration_role_under_tmux(engine_address: str, tmp_path: Path) -> None:
    credentials = admin_credentials_of(tmp_path / "engine")
    tmux = Tmux(
        [
            sys.executable,
            "-m",
            "miglane.cli.main",
            "tui",
            "--engine",
            engine_address,
            "--credentials",
            str(credentials),
        ]
    )
    try:
        tmux.wait_for(f"connected to {engine_address}")
        screen = tmux.wait_for("⇄ migration")
        assert "mgmt" in screen and "10.231.1.0/24" in screen
        tmux.wait_for("g Grant migration role")
        # The first row (mgmt) is highlighted: grant it the migration role.
        tmux.send("g")
        tmux.wait_for("Grant the migration role to network mgmt")
        tmux.send("y")
        tmux.wait_for("Migration role granted to Default/mgmt (moved from migration)")
        tmux.send("5")
        tmux.wait_for("the migration role moved from network 'migration' to 'mgmt'")
        tmux.send("q")
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tmux.alive(), "q did not quit the TUI"
    finally:
        tmux.kill()
