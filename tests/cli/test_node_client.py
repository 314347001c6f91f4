"""The Node.js example client (examples/node-client), built from the .proto files alone, against a
real engine with TLS: it lists hosts, starts a migration, is refused a second one with a reason
it branches on, and follows the first to its end on WatchMigrations."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from miglane.pki import CREDENTIALS_ENV

CLIENT_DIR = Path(__file__).resolve().parents[2] / "examples" / "node-client"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (CLIENT_DIR / "node_modules").is_dir(),
    reason="needs node and `npm ci` in examples/node-client (.ci/run does both)",
)


def test_node_client_migrates_and_reads_the_refusal_reason(cluster_engine: str) -> None:
    result = subprocess.run(
        [
            "node",
            str(CLIENT_DIR / "client.js"),
            *("--engine", cluster_engine),
            *("--credentials", os.environ[CREDENTIALS_ENV]),
            *("--vm", "fake-host0-vm0"),
            *("--to", "fake-host1"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert {line.split()[1] for line in lines if line.startswith("host ")} == {
        "fake-host0",
        "fake-host1",
        "fake-host2",
    }
    assert any(line.startswith("started ") and "from fake-host0" in line for line in lines)
    refused = next(line for line in lines if line.startswith("refused "))
    assert "FAILED_PRECONDITION reason=STATE_CONFLICT" in refused
    assert "retrying will not help" in refused
    assert lines[-1] == "finished MIGRATION_PHASE_COMPLETED on fake-host1"
