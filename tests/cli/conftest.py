"""A real engine process on a free loopback port for the operator-command tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import run_json, wait_for
from engine_process import admin_credentials_of, engine_process

from miglane.pki import CREDENTIALS_ENV, CertificateAuthority


@pytest.fixture(autouse=True)
def own_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands look for credentials in the test's config home, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)


@pytest.fixture
def engine_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The engine's address; the commands (and their child processes) find a test admin's
    credentials through MIGLANE_CREDENTIALS."""
    with engine_process(tmp_path / "engine") as address:
        monkeypatch.setenv(CREDENTIALS_ENV, str(admin_credentials_of(tmp_path / "engine")))
        yield address


@pytest.fixture
def fake_fleet(tmp_path: Path) -> Iterator[list[dict[str, str]]]:
    """The demo's fake agents, with host credentials of the CA the engine will use."""
    addresses = tmp_path / "fleet.json"
    pki_dir = CertificateAuthority.init(tmp_path / "engine" / "pki").pki_dir
    with open(tmp_path / "fleet.log", "w") as log:
        fleet = subprocess.Popen(
            [
                *(sys.executable, "-m", "miglane.cli.main", "demo", "fake-fleet"),
                *("--addresses-file", str(addresses), "--state-dir", str(tmp_path / "agents")),
                *("--pki-dir", str(pki_dir)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: addresses.exists() or fleet.poll() is not None, "the fake fleet")
        assert fleet.poll() is None, (tmp_path / "fleet.log").read_text()
        yield list(json.loads(addresses.read_text()))
    finally:
        fleet.terminate()
        fleet.wait(timeout=10)


@pytest.fixture
def cluster_engine(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_fleet: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    with engine_process(tmp_path / "engine", "--poll-interval", "0.2") as engine:
        monkeypatch.setenv(CREDENTIALS_ENV, str(admin_credentials_of(tmp_path / "engine")))
        run_json(capsys, engine, "clusters", "create", "Prod")
        run_json(
            capsys,
            engine,
            "networks",
            "create",
            "mgmt",
            "10.231.1.0/24",
            "--cluster",
            "Prod",
            "--required",
            "--role",
            "management",
        )
        run_json(
            capsys,
            engine,
            "networks",
            "create",
            "mig",
            "10.231.2.0/24",
            "--cluster",
            "Prod",
            "--role",
            "migration",
        )
        for host in fake_fleet:
            run_json(
                capsys, engine, "hosts", "add", host["name"], host["agent"], "--cluster", "Prod"
            )
        wait_for(
            lambda: all(
                h["status"] == "HOST_STATUS_UP" for h in run_json(capsys, engine, "hosts", "list")
            ),
            "every host up",
        )
        yield engine
