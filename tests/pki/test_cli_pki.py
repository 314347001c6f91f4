"""`miglane pki` as an operator runs it: a real process per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from miglane.cli.pki import PKI_DIR_ENV
from miglane.pki import HOST_LAYOUT, KEY, CertificateAuthority, Role, load_credentials
from miglane.pki.layout import KEY_MODE

MIGLANE = str(Path(sys.executable).parent / "miglane")


def miglane(pki_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, PKI_DIR_ENV: str(pki_dir)}
    return subprocess.run(
        [MIGLANE, "pki", *argv], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    done = miglane(tmp_path / "pki", "init", "--address", "192.0.2.1")
    assert done.returncode == 0, done.stderr
    return tmp_path / "pki"


def test_init_creates_the_engine_identity_and_is_idempotent(pki_dir: Path) -> None:
    engine = load_credentials(CertificateAuthority.open(pki_dir).layout.engine).info
    assert engine.role is Role.ENGINE and "192.0.2.1" in engine.sans
    again = miglane(pki_dir, "init", "--address", "192.0.2.1")
    assert again.returncode == 0, again.stderr
    assert load_credentials(pki_dir / "engine").info.serial == engine.serial


def test_pki_dir_flag_overrides_the_environment(tmp_path: Path) -> None:
    flagged = tmp_path / "flagged"
    done = miglane(tmp_path / "env", "init", "--pki-dir", str(flagged))
    assert done.returncode == 0, done.stderr
    assert (flagged / "ca-cert.pem").exists() and not (tmp_path / "env").exists()


def test_issue_issue_host_list_and_revoke(pki_dir: Path, tmp_path: Path) -> None:
    issued = miglane(pki_dir, "issue", "alice", "--role", "operator", "--out", str(tmp_path / "a"))
    assert issued.returncode == 0, issued.stderr
    alice = load_credentials(tmp_path / "a").info
    assert alice.role is Role.OPERATOR and alice.serial_hex in issued.stdout
    assert (tmp_path / "a" / KEY).stat().st_mode & 0o777 == KEY_MODE

    host = miglane(
        pki_dir,
        "issue-host",
        "host-1",
        "--address",
        "192.0.2.10",
        "--address",
        "198.51.100.10",
        "--days",
        "10",
    )
    assert host.returncode == 0, host.stderr
    host_dir = CertificateAuthority.open(pki_dir).layout.host("host-1")
    assert set(HOST_LAYOUT) <= {p.name for p in host_dir.iterdir()}

    listed = miglane(pki_dir, "list", "--json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"engine", "alice", "host-1"}
    assert rows["host-1"]["expiring"] is True and rows["host-1"]["days_left"] == 9
    assert rows["alice"]["expiring"] is False and rows["alice"]["serial"] == alice.serial_hex

    table = miglane(pki_dir, "list")
    assert table.returncode == 0 and "DAYS LEFT" in table.stdout and "host-1" in table.stdout

    revoked = miglane(pki_dir, "revoke", "alice")
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked {alice.serial_hex} of alice" in revoked.stdout
    rows = {row["name"]: row for row in json.loads(miglane(pki_dir, "list", "--json").stdout)}
    assert rows["alice"]["revoked"] is True and rows["engine"]["revoked"] is False


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (("issue", "bad_name", "--role", "admin", "--out", "x"), "not a valid identity name"),
        (("issue-host", "h", "--address", "not-an-ip"), "is not an IP address"),
        (("revoke", "nobody"), "no certificate has the serial or name nobody"),
    ],
)
def test_refusals_are_one_line(pki_dir: Path, argv: tuple[str, ...], complaint: str) -> None:
    done = miglane(pki_dir, *argv)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and complaint in done.stderr


def test_commands_without_a_ca_say_to_init(tmp_path: Path) -> None:
    done = miglane(tmp_path / "none", "list")
    assert done.returncode == 1 and "miglane pki init" in done.stderr
