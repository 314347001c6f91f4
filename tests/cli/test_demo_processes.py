"""`miglane demo down` stops the processes the demo started, and no process that got one of
their PIDs since (the state file outlives a reboot)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from miglane.cli.demo import DemoPaths
from miglane.cli.main import main


@contextmanager
def sleeper(*argv: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process that sleeps, with `argv` on its command line."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_down_stops_the_demos_engine_and_spares_a_reused_pid(tmp_path: Path) -> None:
    paths = DemoPaths(tmp_path / "demo")
    paths.base.mkdir()
    engine_argv = ("miglane.cli.main", "engine", "--state-dir", str(paths.engine_dir))
    with sleeper(*engine_argv) as engine, sleeper("unrelated") as stranger:
        state = {"mode": "fake", "engine_pid": engine.pid, "fleet_pid": stranger.pid}
        paths.state_file.write_text(json.dumps(state))
        assert main(["demo", "down", "--base-dir", str(paths.base)]) == 0
        assert engine.wait(timeout=15) is not None
        assert stranger.poll() is None, "demo down stopped a process it did not start"
    assert not paths.state_file.exists()
